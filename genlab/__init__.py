"""genlab: a lab for deep generative models (VAEs and GANs)."""

__version__ = "0.1.0"

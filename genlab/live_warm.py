"""Imported once, by the fork server that genlab.live's players are forked from: builds a small live run
and takes a step and a snapshot there, so that what torch imports lazily on first use (building an
optimiser pulls in torch._dynamo: about 12 s on a loaded 2-core machine) is imported once, not again in
every player's process. Importing it elsewhere costs one tiny training step."""

from genlab import live

_run = live.LiveRun("gan", "ring", live.trick_overrides({}), seed=0, batch_size=8, eval_samples=100)
_run.step(1)
_run.snapshot(n_points=10, grid=4)
del _run

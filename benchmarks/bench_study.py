"""A study of 4 trials two ways: on a local Ray sized to this machine (one trial per CPU, one torch
thread each) against the same 4 runs one after another in one process (torch's default threads).

Both ways start a fresh Python process, so each pays its own imports; the Ray way also pays Ray's
start-up (`ray.init`, its daemons, a worker per CPU). The figure is trials per hour (4 / wall time);
the ratio is Ray / one process, above 1 meaning Ray is faster. Prints figures; not a test. Stop any
training first (it shares the cores): `kill -STOP` a campaign's processes and `kill -CONT` them after.

    uv run python benchmarks/bench_study.py [--steps 300] [--batch-size 64] [--repeats 2]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from pairs import alternate

from genlab.device import cpu_name

STUDY = """name = "bench"
model = "beta-vae"
data = "dsprites"
steps = {steps}
[train]
batch_size = {batch}
precision = "auto"
ckpt_every = {steps}
[fixed]
lr = 5e-4
[grid]
beta = [1, 16]
seed = [0, 1]
"""

ONE_BY_ONE = """
import sys
from genlab.study import load_study, trials, run_trial
s = load_study(sys.argv[1])
for t in trials(s):
    run_trial(s, t, sys.argv[2])
"""


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300, help="steps per trial")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=2)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as root:
        study = Path(root) / "bench.toml"
        study.write_text(STUDY.format(steps=a.steps, batch=a.batch_size))
        runs = iter(range(10**6))

        def on_ray():
            return 4 * 3600 / timed([sys.executable, "-m", "genlab.cli", "study", "run", str(study), "--out",
                                     f"{root}/ray{next(runs)}", "--quiet"])

        def one_process():
            return 4 * 3600 / timed([sys.executable, "-c", ONE_BY_ONE, str(study), f"{root}/seq{next(runs)}"])

        print(f"4 dSprites β-VAE trials (β 1, 16 × seeds 0, 1), {a.steps} steps of batch {a.batch_size} each; "
              f"{os.cpu_count()} CPUs ({cpu_name()}), torch {torch.__version__}")
        alternate(("local Ray", on_ray), ("one process", one_process), a.repeats, unit="trials/h")


if __name__ == "__main__":
    main()

"""genlab.live.Player: live runs trained in a process of their own.

Known answers: the process trains the same trajectory as stepping the run here (same weights, losses,
measures); it reports increasing steps while it plays; stopping it leaves no process behind; it ends
when the process that started it dies; an error or a crash in it reaches the caller as one sentence.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import torch

from genlab import live
from genlab.data import MixtureData, load_dataset

SMALL = {"batch_size": 16, "eval_samples": 300}
ROOT = Path(__file__).resolve().parents[1]
START_S = 180  # the first player of a test process waits for the fork server's imports (torch, sklearn)


def gone(pid: int) -> bool:
    """No such process, or only its zombie (ended, waiting to be reaped)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return "\nState:\tZ" in status


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"no {what} within {timeout:.0f} s")


def same_measures(a: dict, b: dict) -> bool:
    return all(a[k] == b[k] or (isinstance(a[k], float) and math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def test_the_process_trains_the_same_run_as_stepping_it_here():
    switches = {"generator_averaging": True, "historical_averaging": True, "ttur": True}
    here = live.LiveRun("gan", "ring", live.trick_overrides(switches), seed=3, **SMALL)
    there = live.LiveRun("gan", "ring", live.trick_overrides(switches), seed=3, **SMALL)
    here.step(120)
    player = live.Player([there], max_steps=120).start()
    player._thread.join(START_S)
    assert player.reason == "max_steps" and there.step_count == 120 and there._away is None
    for (k, x), y in zip(here.model.state_dict().items(), there.model.state_dict().values()):
        assert torch.equal(x, y), k
    assert here.losses == there.losses
    assert len(here.history) == len(there.history) == 3
    assert all(same_measures(a, b) for a, b in zip(here.history, there.history))
    here.step(7)  # and it steps on from there, here, like the run that never left
    there.step(7)
    assert here.losses[-1] == there.losses[-1]


def test_a_playing_run_reports_increasing_steps_and_stopping_leaves_no_process():
    run = live.LiveRun("gan", "ring", live.trick_overrides({}), **SMALL)
    player = live.Player([run], max_steps=10**6, publish_s=0.05).start()
    pid = wait_for(lambda: player.pid, START_S, "training process")
    assert pid != os.getpid() and not gone(pid)
    first = wait_for(lambda: run.snapshot(with_losses=False)["step"], 60, "step from the process")
    seen = [first]
    for _ in range(5):
        player.seen()
        seen.append(wait_for(lambda: run.snapshot(with_losses=False)["step"] > seen[-1] and
                             run.snapshot(with_losses=False)["step"], 30, "new step"))
    assert seen == sorted(seen) and seen[-1] > seen[0]
    snap = run.snapshot()
    assert len(snap["losses"]) == snap["step"] and snap["losses"][-1]["step"] == snap["step"]
    assert snap["fake"].shape == (500, 2) and snap["heatmap"]["z"].shape == (60, 60)
    assert run.snapshot(n_points=0)["heatmap"] is None

    player.stop()
    assert not player.running and player.reason == "stopped"
    wait_for(lambda: gone(pid), 10, "end of the training process")
    assert run._away is None and run.step_count >= seen[-1]  # the run took over what the process trained
    assert len(run.losses) == run.step_count and run.snapshot()["step"] == run.step_count


def test_an_error_in_the_process_reaches_the_caller_as_one_sentence():
    run = live.LiveRun("gan", "ring", live.trick_overrides({}), **SMALL)
    run.data = BrokenRing(load_dataset("ring"))  # pickled with the run: it fails there, not here
    player = live.Player([run], max_steps=10**6).start()
    player._thread.join(START_S)
    assert player.reason == "error: RuntimeError: the data went away"
    assert run._away is None and run.step_count == 0


def test_a_process_that_dies_is_reported_in_one_sentence_and_the_run_is_kept():
    run = live.LiveRun("gan", "ring", live.trick_overrides({}), **SMALL)
    run.step(3)
    player = live.Player([run], max_steps=10**6).start()
    pid = wait_for(lambda: player.pid, START_S, "training process")
    wait_for(lambda: run.snapshot(with_losses=False)["step"] > 3, 60, "step from the process")
    os.kill(pid, signal.SIGKILL)
    player._thread.join(30)
    assert not player.running
    assert player.reason == "error: the training process ended unexpectedly (exit code -9); the run is back at step 3"
    assert "\n" not in player.reason and run._away is None and run.snapshot()["step"] == 3


def test_the_training_process_ends_when_its_parent_dies(tmp_path):
    script = textwrap.dedent("""
        import sys, time
        from genlab import live
        run = live.LiveRun("gan", "ring", live.trick_overrides({}), batch_size=16, eval_samples=300)
        player = live.Player([run], max_steps=10**9, idle_s=3600).start()
        while player.pid is None or not run.snapshot(with_losses=False)["step"]:
            time.sleep(0.05)
        print(player.pid, flush=True)
        time.sleep(3600)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    parent = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())  # the parent's player has trained a step
        assert not gone(child)
        parent.kill()  # no clean-up runs in a killed parent
        parent.wait(30)
        wait_for(lambda: gone(child), 15, "end of the orphaned training process")
    finally:
        if parent.poll() is None:
            parent.kill()


class BrokenRing(MixtureData):
    """The ring, whose samples fail: a data source that went away while a player trained."""

    def __init__(self, ring: MixtureData):
        self.__dict__.update(ring.__dict__)

    def sample(self, n, generator=None):
        raise RuntimeError("the data went away\nwith a second line no page should show")


def test_page_scripts_yield_the_cpu_to_a_playing_run(monkeypatch):
    """While a player trains, each page script's thread (ui.setup_page calls yield_to_live_training) runs
    5 nicer than the server, and the training process keeps the server's priority; before a player
    starts, after it stops and with GENLAB_SCRIPT_NICE=0, scripts keep the server's priority too."""
    import threading

    from genlab import ui

    monkeypatch.delenv(ui.SCRIPT_NICE_ENV, raising=False)

    def script_nice() -> int:
        seen = []

        def script():  # a script run: a thread of its own, as Streamlit gives each
            ui.yield_to_live_training()
            seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

        t = threading.Thread(target=script)
        t.start()
        t.join()
        return seen[0]

    base = os.getpriority(os.PRIO_PROCESS, os.getpid())
    assert script_nice() == base  # nobody plays
    run = live.LiveRun("gan", "ring", live.trick_overrides({}), **SMALL)
    player = live.Player([run], max_steps=10**6).start()
    try:
        pid = wait_for(lambda: player.pid, START_S, "training process")
        assert live.any_playing()
        assert script_nice() == min(19, base + 5)
        assert os.getpriority(os.PRIO_PROCESS, pid) == base  # the training keeps the server's priority
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base  # only the script's thread
        monkeypatch.setenv(ui.SCRIPT_NICE_ENV, "0")
        assert script_nice() == base
        monkeypatch.setenv(ui.SCRIPT_NICE_ENV, "2")
        assert script_nice() == min(19, base + 2)
    finally:
        player.stop()
    assert not live.any_playing() and script_nice() == base

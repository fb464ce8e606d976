#!/usr/bin/env bash
# The one-shot GPU campaign (issue 26, item 4): the β-sweep study (5 β × 3 seeds) trained as ONE
# stacked run (genlab.sweep.run_study_stacked: torch.func, bf16 autocast, dSprites drawn once and
# kept on the GPU) inside one command window, then packed under $OUT, whose files come back.
#
#   OUT=/some/folder bash scripts/gpu_campaign.sh            # on the device machine, in the repo root
#   STEPS=20 LIMIT=60 DEVICE=cpu STUDY=tiny.toml OUT=/tmp/o bash scripts/gpu_campaign.sh   # a CPU rehearsal
#   bash scripts/gpu_campaign.sh --dry-run                    # say what would run, check the study, train nothing
#
# Knobs (environment): STUDY [studies/beta-sweep.toml], STEPS [300000], LIMIT [540] seconds for the
# training (the command window is 600 s: ~60 s stay for Python, drawing dSprites and packing),
# DEVICE [cuda], ONLY [all trials; e.g. 'beta=1,16'], RUN_DIR [runs/studies/<study>-gpu].
#
# What it does: prints nvidia-smi and the torch/CUDA versions; trains every trial not yet done
# until STEPS or until LIMIT, when every trial is checkpointed at the same step (`genlab study run
# --stacked --time-limit`); the first ~10 s of that run are its warm-up, timed in the same process
# (a separate warm-up process would pay Python, CUDA start and the dSprites drawing a second time):
# the line "warm-up: … steps/s = … images/s …" gives the rate and the projected time for STEPS.
#
# Where the trials live, and resuming. The study trains in RUN_DIR inside the repo copy (runs/ is
# git-ignored), not in $OUT: $OUT is emptied before every command, while ignored files stay on a
# warm machine between the calls of one lease, so a second command in the same lease (e.g. LIMIT=200
# after the first 540 s) resumes every trial from its last step. What comes back from $OUT is at
# most 8 files of 16 MiB (64 MiB in all): the script packs RUN_DIR into at most 6 tar.gz bundles
# (bundle-N.tar.gz, each holding <study>-gpu/study.json and whole trial folders; unpack them all
# into one folder, e.g. `for f in bundle-*.tar.gz; do tar -xzf $f -C runs/studies; done`, and
# `genlab study status runs/studies/beta-sweep-gpu` reads them), plus campaign.log and MANIFEST.txt.
# Each trial's resume.safetensors (its weights and Adam moments, ~8.3 MB for the dSprites network,
# 125 MB for 15 trials) is packed only when all of them fit; for the full grid they do not, so the
# bundles then hold model.safetensors/json, log.jsonl, curve.jsonl, trial.json and events.log of
# every trial (~45 MB), and MANIFEST.txt says so. A later lease can resume only from the packed
# state: unpack the bundles into runs/studies/ here and name that folder in the run's `carry`
# (RUN_DIR=runs/studies/beta-sweep-gpu); carry takes 64 MiB with the working tree (~41 MB today),
# so that works for a few trials' resume states (ONLY=…), not for the whole grid's.
set -uo pipefail
cd "$(dirname "$0")/.."

DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
STUDY=${STUDY:-studies/beta-sweep.toml}
STEPS=${STEPS:-300000}
LIMIT=${LIMIT:-540}
DEVICE=${DEVICE:-cuda}
ONLY=${ONLY:-}
OUT=${OUT:-runs/gpu-campaign-out}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"

echo "== machine"
if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi; else echo "no nvidia-smi on this machine"; fi

# Python: the repo's venv if it works; else a python3 that already holds torch (the lent H200's
# /opt/torch/.venv python3 does) with the repo on PYTHONPATH (the stacked run needs torch, numpy,
# safetensors, tqdm and scikit-learn, not ray or streamlit); else build the venv:
# `python3 -m pip install -q uv && python3 -m uv sync` downloads torch with its CUDA wheels, ~3-4 GB,
# several minutes of a 10-minute window, and needs a package registry (the lent H200 reaches none).
if [ -x .venv/bin/python ] && .venv/bin/python -c "import torch, genlab" >/dev/null 2>&1; then
  PY=.venv/bin/python
elif python3 -c "import torch, numpy, safetensors, tqdm, sklearn" >/dev/null 2>&1; then
  PY=python3
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  echo "== no usable Python with torch: building the venv (uv sync)"
  python3 -m pip install -q uv && python3 -m uv sync || { echo "could not build the venv"; exit 1; }
  PY=.venv/bin/python
fi
echo "== python: $PY"
$PY - <<'EOF'
import torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
      f"GPU: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}, CPU threads {torch.get_num_threads()}")
EOF

NAME=$($PY -c "import sys; from genlab.study import load_study; print(load_study(sys.argv[1]).name)" "$STUDY") || exit 2
RUN_DIR=${RUN_DIR:-runs/studies/$NAME-gpu}
CMD=($PY -m genlab.cli study run "$STUDY" --stacked --steps "$STEPS" --device "$DEVICE" --time-limit "$LIMIT"
     --out "$RUN_DIR" --quiet)
[ -n "$ONLY" ] && CMD+=(--only "$ONLY")
echo "== study $NAME -> $RUN_DIR: ${CMD[*]}"
if [ "$DRY" = 1 ]; then
  $PY -m genlab.cli study status "$RUN_DIR" 2>/dev/null || echo "(no trials in $RUN_DIR yet)"
  echo "dry run: nothing trained"
  exit 0
fi

T0=$(date +%s)
"${CMD[@]}" 2>&1 | tee "$OUT/campaign.log"
RC=${PIPESTATUS[0]}
echo "== training exited with $RC after $(( $(date +%s) - T0 )) s" | tee -a "$OUT/campaign.log"
$PY -m genlab.cli study status "$RUN_DIR" 2>&1 | tee -a "$OUT/campaign.log"

echo "== packing $RUN_DIR into $OUT"
$PY - "$RUN_DIR" "$OUT" <<'EOF' 2>&1 | tee -a "$OUT/campaign.log"
import sys, tarfile
from pathlib import Path

run, out = Path(sys.argv[1]), Path(sys.argv[2])
BUNDLES, PER_FILE = 6, 15 * 2**20  # what comes back: 8 files of 16 MiB; 2 are campaign.log and MANIFEST.txt
trials = sorted(p for p in run.iterdir() if p.is_dir() and (p / "trial.json").exists())

def files(t, with_resume):
    return [f for f in sorted(t.rglob("*")) if f.is_file() and (with_resume or f.name != "resume.safetensors")]

def pack(with_resume):
    groups, size = [[]], 0
    for t in trials:
        s = sum(f.stat().st_size for f in files(t, with_resume))
        if s > PER_FILE:
            return None
        if groups[-1] and size + s > PER_FILE:
            groups.append([])
            size = 0
        groups[-1].append(t)
        size += s
    return groups if len(groups) <= BUNDLES else None

with_resume = True
groups = pack(True)
if groups is None:
    with_resume, groups = False, pack(False)
if groups is None:
    sys.exit(f"the trials do not fit in {BUNDLES} bundles of {PER_FILE >> 20} MiB even without their resume states")
lines = [f"study folder {run.name}: {len(trials)} trials; unpack every bundle into one folder"]
for i, g in enumerate(groups):
    path = out / f"bundle-{i}.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        tar.add(run / "study.json", arcname=f"{run.name}/study.json")
        for t in g:
            for f in files(t, with_resume):
                tar.add(f, arcname=f"{run.name}/{f.relative_to(run)}")
    lines.append(f"{path.name}: {path.stat().st_size / 2**20:.1f} MiB, {', '.join(t.name for t in g)}")
lines.append("resume states packed: trials resume from them" if with_resume else
             "resume states NOT packed (too large to come back): the unpacked trials load and are measured, "
             "and resume only on the machine that trained them")
(out / "MANIFEST.txt").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
PACK=${PIPESTATUS[0]}
[ "$RC" = 0 ] && exit "$PACK"
exit "$RC"

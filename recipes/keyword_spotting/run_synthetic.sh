#!/usr/bin/env bash
# Synthetic 12-class keyword spotting, one command:
#   bash recipes/keyword_spotting/run_synthetic.sh [NUM_CLIPS_PER_WORD] [NEGATIVE_HOURS]
# Stages: 1 synthesize keywords (Speech Commands layout + manifests), 2 synthesize keyword-free
# negative speech, 3 train (shared Trainer), 4 evaluate (accuracy, confusion, FRR @ 1 FA/h, DET).
# Re-running resumes every stage (synthesis fills gaps, training resumes from last.pt).
set -euo pipefail
cd "$(dirname "$0")/../.."
NUM=${1:-1000}
NEG_HOURS=${2:-2.0}
PY=${PYTHON:-python}

$PY -m speechrnn synth keywords data/kws_synth --num "$NUM" --unknown-words 40 --no-progress
$PY -m speechrnn synth transcription data/kws_negatives --hours "$NEG_HOURS" --no-progress
$PY -m speechrnn train recipes/keyword_spotting/synthetic.yaml --exp-dir exp/kws_synth
$PY -m speechrnn kws evaluate exp/kws_synth/best.pt data/kws_synth/test.jsonl \
    --negatives data/kws_negatives/train.jsonl --dev-negatives data/kws_negatives/dev.jsonl \
    --fa-per-hour 1 --out-dir exp/kws_synth/report

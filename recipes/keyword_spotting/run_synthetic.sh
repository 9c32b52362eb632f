#!/usr/bin/env bash
# Synthetic 12-class keyword spotting, one command:
#   bash recipes/keyword_spotting/run_synthetic.sh [NUM_CLIPS_PER_WORD] [NEGATIVE_HOURS]
# Stages: 1 synthesize keywords (Speech Commands layout + manifests), 2 synthesize keyword-free
# negative speech, 3 train (shared Trainer), 4 evaluate (accuracy, confusion, FRR @ 1 FA/h, DET).
# Re-running resumes every stage (synthesis fills gaps, training resumes from last.pt).
set -euo pipefail
cd "$(dirname "$0")/../.."
# NEG=train.jsonl DEV_NEG=dev.jsonl reuse existing keyword-free speech manifests (e.g. the
# transcription corpus) instead of synthesizing negatives; extra arguments are training overrides.
NUM=${1:-1000}
NEG_HOURS=${2:-2.0}
shift $(( $# > 2 ? 2 : $# ))
PY=${PYTHON:-.venv/bin/python}
NEG=${NEG:-}
DEV_NEG=${DEV_NEG:-}

$PY -m speechrnn synth keywords data/kws_synth --num "$NUM" --unknown-words 40 --no-progress
if [ -z "$NEG" ]; then
  $PY -m speechrnn synth transcription data/kws_negatives --hours "$NEG_HOURS" --no-progress
  NEG=data/kws_negatives/train.jsonl DEV_NEG=data/kws_negatives/dev.jsonl
fi
$PY -m speechrnn train recipes/keyword_spotting/synthetic.yaml --exp-dir exp/kws_synth "$@"
$PY -m speechrnn kws evaluate exp/kws_synth/best.pt data/kws_synth/test.jsonl \
    --negatives "$NEG" --dev-negatives "$DEV_NEG" \
    --fa-per-hour 1 --out-dir exp/kws_synth/report

#!/usr/bin/env bash
# Speech Commands v2, 12-class protocol, one command:
#   bash recipes/keyword_spotting/run_speech_commands.sh /path/to/speech_commands_v0.02 [NEG_MANIFEST]
# NEG_MANIFEST: keyword-free long speech for false alarms per hour (default: the synthetic
# transcription corpus built by run_synthetic.sh, data/kws_negatives/train.jsonl).
set -euo pipefail
CORPUS=${1:?usage: run_speech_commands.sh SPEECH_COMMANDS_DIR [NEG_MANIFEST]}
cd "$(dirname "$0")/../.."
NEG=${2:-data/kws_negatives/train.jsonl}
PY=${PYTHON:-.venv/bin/python}

$PY -m speechrnn prepare speech_commands "$CORPUS" data/speech_commands --protocol 12class
$PY -m speechrnn train recipes/keyword_spotting/speech_commands.yaml --exp-dir exp/kws_sc
if [ -f "$NEG" ]; then
  $PY -m speechrnn kws evaluate exp/kws_sc/best.pt data/speech_commands/test.jsonl \
      --negatives "$NEG" --fa-per-hour 1 --out-dir exp/kws_sc/report
else
  $PY -m speechrnn kws evaluate exp/kws_sc/best.pt data/speech_commands/test.jsonl --out-dir exp/kws_sc/report
fi

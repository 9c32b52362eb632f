#!/usr/bin/env bash
# LibriSpeech BiLSTM-CTC on GPUs (torch DDP through torchrun), one command:
#   NGPU=4 bash recipes/transcription/run_librispeech.sh /path/to/LibriSpeech 100|960
# Stages: 1 manifests   2 train (torchrun, NGPU processes; resumes from last.pt)
#         3 word 4-gram LM from the training transcripts   4 evaluate dev/test clean/other,
#         greedy and beam+LM  -> $EXP/results.txt
set -euo pipefail
cd "$(dirname "$0")/../.."
CORPUS=${1:?usage: run_librispeech.sh LIBRISPEECH_DIR 100|960}
SIZE=${2:-100}
NGPU=${NGPU:-1}
SR=${SR:-.venv/bin/speechrnn}
PY=${PYTHON:-.venv/bin/python}
DATA=data/librispeech
EXP=${EXP:-exp/librispeech_$SIZE}
source recipes/stages.sh   # STAGE=N starts at stage N, STOP=M ends after stage M
shift $(( $# > 2 ? 2 : $# ))

if stage 1; then
  $SR prepare librispeech "$CORPUS" "$DATA"
  if [ "$SIZE" = 960 ]; then   # one manifest in the same folder, so relative audio paths hold
    cat "$DATA"/train-clean-100.jsonl "$DATA"/train-clean-360.jsonl "$DATA"/train-other-500.jsonl \
      > "$DATA/train-960.jsonl"
  fi
fi
TRAIN="$DATA/train-clean-100.jsonl"; [ "$SIZE" = 960 ] && TRAIN="$DATA/train-960.jsonl"
if stage 2; then
  $PY -m torch.distributed.run --standalone --nproc_per_node "$NGPU" -m speechrnn train \
    "recipes/transcription/librispeech_$SIZE.yaml" --exp-dir "$EXP" "$@"
fi
MODEL="$EXP/best.pt"; [ -f "$EXP/averaged.pt" ] && MODEL="$EXP/averaged.pt"
if stage 3; then
  $SR lm "$TRAIN" --order 4 --out "$EXP/lm4.arpa"
fi
if stage 4; then
  for split in dev-clean dev-other test-clean test-other; do
    [ -f "$DATA/$split.jsonl" ] || continue
    echo "$split greedy:  $($SR evaluate "$MODEL" "$DATA/$split.jsonl" --device cuda)"
    echo "$split beam+LM: $($SR evaluate "$MODEL" "$DATA/$split.jsonl" --device cuda --beam-size 64 \
          --lm "$EXP/lm4.arpa" --errors-file "$EXP/errors_$split.tsv")"
  done | tee "$EXP/results.txt"
fi

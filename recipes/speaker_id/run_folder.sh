#!/usr/bin/env bash
# Your own recordings, one folder per speaker, one command:
#   bash recipes/speaker_id/run_folder.sh /path/to/tree [key=value overrides...]
#   (tree/<speaker>/**/*.wav|flac|ogg; files go to train/dev/test by a hash of their name)
# Stages: 1 manifests (speechrnn prepare folder --label-field speaker)   2 train
#         3 calibrate the threshold on dev   4 closed-set top-1/top-5 on test, EER over test pairs
# Few speakers? Fine-tune the bundled encoder instead: add train.init_from=speechrnn/assets/models/spk-bilstm.pt
set -euo pipefail
cd "$(dirname "$0")/../.."
TREE=${1:?usage: run_folder.sh TREE_DIR [key=value overrides...]}; shift
SR=${SR:-.venv/bin/speechrnn}
DATA=${DATA:-data/speaker_id/$(basename "$TREE")}
EXP=${EXP:-exp/speaker_id_$(basename "$TREE")}
source recipes/stages.sh   # STAGE=N starts at stage N, STOP=M ends after stage M
ADATA=$(realpath -m "$DATA")   # absolute, as config paths resolve against the config file
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

if stage 1; then
  $SR prepare folder "$TREE" "$DATA" --label-field speaker
fi
if stage 2; then
  $SR train recipes/speaker_id/bilstm.yaml --exp-dir "$EXP" \
    data.train="$ADATA/train.jsonl" data.dev="$ADATA/dev.jsonl" \
    task.speakers_from="$ADATA/train.jsonl" "$@"
fi
if stage 3; then
  SRC="$EXP/best.pt"; [ -f "$SRC" ] || SRC="$EXP/last.pt"
  cp "$SRC" "$EXP/final.pt"
  $SR speakers calibrate "$DATA/dev.jsonl" --model "$EXP/final.pt" --save model
fi
if stage 4; then
  $SR speakers evaluate "$EXP/final.pt" "$EXP/report" --test "$DATA/test.jsonl" \
    --verify "$DATA/test.jsonl" | tee "$EXP/results.txt"
fi

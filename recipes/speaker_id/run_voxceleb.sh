#!/usr/bin/env bash
# VoxCeleb1, one command:  bash recipes/speaker_id/run_voxceleb.sh /path/to/voxceleb1
#   (CORPUS holds wav/<speaker>/<video>/*.wav, iden_split.txt and veri_test2.txt)
# Stages: 1 manifests (speechrnn prepare voxceleb)
#         2 identification protocol: train on iden train (1251 speakers), best.pt by dev top-1,
#           report test top-1/top-5 with the classifier
#         3 verification protocol: train on veri_train (speakers in no trial), calibrate the threshold
#           on veri_train dev pairs, EER/minDCF on veri_test2 trials (raw + s-norm with a training cohort)
set -euo pipefail
cd "$(dirname "$0")/../.."
CORPUS=${1:?usage: run_voxceleb.sh VOXCELEB1_DIR [key=value overrides...]}; shift
SR=${SR:-.venv/bin/speechrnn}
DATA=${DATA:-data/speaker_id/voxceleb1}
EXP=${EXP:-exp/speaker_id_voxceleb1}
source recipes/stages.sh   # STAGE=N starts at stage N, STOP=M ends after stage M
ADATA=$(realpath -m "$DATA")   # absolute, as config paths resolve against the config file
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

if stage 1; then
  $SR prepare voxceleb "$CORPUS" "$DATA" --trial-list veri_test2.txt
fi
if stage 2; then
  $SR train recipes/speaker_id/bilstm.yaml --exp-dir "$EXP/iden" \
    data.train="$ADATA/train.jsonl" data.dev="$ADATA/dev.jsonl" \
    task.speakers_from="$ADATA/train.jsonl" "$@"
  $SR speakers evaluate "$EXP/iden/best.pt" "$EXP/iden/report" --test "$DATA/test.jsonl" \
    | tee "$EXP/iden/results.txt"
fi
if stage 3; then
  # every 20th veri_train utterance is the dev set (best.pt by dev EER, threshold calibration)
  awk 'NR % 20 == 0' "$DATA/veri_train.jsonl" > "$DATA/veri_dev.jsonl"
  awk 'NR % 20 != 0' "$DATA/veri_train.jsonl" > "$DATA/veri_fit.jsonl"
  $SR train recipes/speaker_id/bilstm.yaml --exp-dir "$EXP/veri" \
    data.train="$ADATA/veri_fit.jsonl" data.dev="$ADATA/veri_dev.jsonl" \
    task.speakers_from="$ADATA/veri_fit.jsonl" task.metric=eer "$@"
  cp "$EXP/veri/best.pt" "$EXP/veri/final.pt"
  $SR speakers calibrate "$DATA/veri_dev.jsonl" --model "$EXP/veri/final.pt" --save model
  $SR speakers evaluate "$EXP/veri/final.pt" "$EXP/veri/report" --verify "$DATA/veri_test.jsonl" \
    --trials "$DATA/trials.tsv" --cohort "$DATA/veri_fit.jsonl" | tee "$EXP/veri/results.txt"
fi

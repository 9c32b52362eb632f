#!/usr/bin/env bash
# Transcription demo, end to end, one command (about 40 minutes on 2 CPU cores):
#   bash recipes/transcription/run_demo.sh            # all stages
#   STAGE=3 bash recipes/transcription/run_demo.sh    # resume from stage 3
# Stages: 1 synthesize a corpus (held-out sentences AND voices)   2 train (demo.yaml)
#         3 build a word 3-gram LM from text without any dev/test sentence
#         4 tune LM weights on a dev subset   5 evaluate seen-/unseen-voice tests   6 export int8
#         7 (BUNDLE=1) install the int8 model as the bundled default + the LM beside it
set -euo pipefail
cd "$(dirname "$0")/../.."
SR=${SR:-.venv/bin/speechrnn}
DATA=${DATA:-data/transcription}
EXP=${EXP:-exp/transcription_demo}
HOURS=${HOURS:-4}
GEN=${GEN:-0}          # generated espeak-ng timbres added to the training voices only
source recipes/stages.sh   # STAGE=N starts at stage N, STOP=M ends after stage M
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

if stage 1; then
  $SR synth transcription "$DATA" --hours "$HOURS" --generated-timbres "$GEN" --seed 0 --no-progress
fi
if stage 2; then
  $SR train recipes/transcription/demo.yaml --exp-dir "$EXP" \
    data.train="$PWD/$DATA/train.jsonl" data.dev="$PWD/$DATA/dev.jsonl" "$@"
fi
MODEL="$EXP/best.pt"; [ -f "$EXP/averaged.pt" ] && MODEL="$EXP/averaged.pt"
if stage 3; then
  $SR lm wordnet "$DATA/train.jsonl" --order 3 --out "$EXP/lm3.arpa" \
    --exclude "$DATA/dev.jsonl" "$DATA/test_seen.jsonl" "$DATA/test_unseen.jsonl"
fi
if stage 4; then   # grid on 150 dev utterances; never on the test sets
  # the subset sits beside dev.jsonl: manifest audio paths are relative to the manifest
  head -n 150 "$DATA/dev.jsonl" > "$DATA/dev150.jsonl"
  : > "$EXP/lm_grid.tsv"
  for a in 0.3 0.6 1.0; do for b in 0.0 1.0 2.0; do
    wer=$($SR evaluate "$MODEL" "$DATA/dev150.jsonl" --beam-size 32 --lm "$EXP/lm3.arpa" \
          --alpha $a --beta $b | sed -n 's/.*WER \([0-9.]*\)%.*/\1/p')
    printf "%s\t%s\t%s\n" $a $b "$wer" | tee -a "$EXP/lm_grid.tsv"
  done; done
fi
if stage 5; then
  read -r ALPHA BETA _ < <(sort -t$'\t' -k3,3g "$EXP/lm_grid.tsv" | head -n 1)
  {
    echo "model: $MODEL   LM: $EXP/lm3.arpa (alpha=$ALPHA beta=$BETA, tuned on dev)"
    for split in test_seen test_unseen; do
      echo "$split greedy:  $($SR evaluate "$MODEL" "$DATA/$split.jsonl" --errors-file "$EXP/errors_${split}_greedy.tsv")"
      echo "$split beam+LM: $($SR evaluate "$MODEL" "$DATA/$split.jsonl" --beam-size 32 --lm "$EXP/lm3.arpa" \
            --alpha "$ALPHA" --beta "$BETA" --errors-file "$EXP/errors_${split}_lm.tsv")"
    done
  } | tee "$EXP/results.txt"
fi
if stage 6; then
  DESC="English characters, BiLSTM-CTC, trained on $HOURS h of synthetic TTS speech"
  [ "$GEN" -gt 0 ] && DESC="$DESC + $GEN generated espeak-ng timbres"
  # a run with train.init_from=… names its parent checkpoints itself (extra.init_from, `speechrnn models`)
  $SR export "$MODEL" "$EXP/model-int8.pt" --int8 --description "$DESC (recipes/transcription/run_demo.sh)"
fi
if stage 7 && [ "${BUNDLE:-0}" = 1 ]; then
  cp "$EXP/model-int8.pt" speechrnn/assets/models/en-char-bilstm.pt
  echo "installed speechrnn/assets/models/en-char-bilstm.pt"
fi

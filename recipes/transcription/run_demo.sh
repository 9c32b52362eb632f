#!/usr/bin/env bash
# Transcription demo, end to end, one command (about 40 minutes on 2 CPU cores):
#   bash recipes/transcription/run_demo.sh            # all stages
#   STAGE=3 bash recipes/transcription/run_demo.sh    # resume from stage 3
# Stages: 1 synthesize a corpus (held-out sentences AND voices)   2 train (demo.yaml)
#         3 build a word 3-gram LM from text without any dev/test sentence
#         4 tune LM weights on a dev subset, for prefix beam search (pyctcdecode) and for
#           lexicon-constrained search (flashlight)   5 evaluate seen-/unseen-voice tests   6 export int8
#         7 (BUNDLE=1) install the int8 model as the bundled default + the LM beside it
# Exported models decode by default with the decoder + LM weights that won on dev (stage 4).
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
if [ -z "${MODEL:-}" ]; then   # MODEL=path evaluates another model (e.g. the bundled one) on $DATA
  MODEL="$EXP/best.pt"; [ -f "$EXP/averaged.pt" ] && MODEL="$EXP/averaged.pt"
fi
if stage 3; then
  $SR lm wordnet "$DATA/train.jsonl" --order 3 --out "$EXP/lm3.arpa.gz" \
    --exclude "$DATA/dev.jsonl" "$DATA/test_seen.jsonl" "$DATA/test_unseen.jsonl"
fi
if stage 4; then   # grid on 150 dev utterances; never on the test sets
  # the subset sits beside dev.jsonl: manifest audio paths are relative to the manifest
  head -n 150 "$DATA/dev.jsonl" > "$DATA/dev150.jsonl"
  $SR tune-decoding "$MODEL" "$DATA/dev150.jsonl" --lm "$EXP/lm3.arpa.gz" \
    --decoder beam lexicon --beam-size "${BEAMS:-128,256}" --alpha 0.45,0.6,0.8,1.0 --beta=-1,-0.5,0,0.5,1 \
    --out "$EXP/lm_grid.tsv"
fi
best_dec() {   # DECODER BEAM ALPHA BETA with the lowest dev150 WER (of decoder $1, or of all)
  tail -n +2 "$EXP/lm_grid.tsv" | grep "^${1:-}" | head -n 1 | cut -f1-4   # the grid is sorted
}
if stage 5; then
  {
    echo "model: $MODEL   LM: $EXP/lm3.arpa.gz (alpha, beta tuned on dev150 per decoder: $EXP/lm_grid.tsv)"
    for split in test_seen test_unseen; do
      echo "$split greedy:  $($SR evaluate "$MODEL" "$DATA/$split.jsonl" --decoder greedy \
            --errors-file "$EXP/errors_${split}_greedy.tsv")"
      for dec in beam lexicon; do
        read -r _ BEAM ALPHA BETA < <(best_dec $dec)
        echo "$split $dec $BEAM + LM (alpha $ALPHA beta $BETA): $($SR evaluate "$MODEL" "$DATA/$split.jsonl" \
              --decoder $dec --beam-size $BEAM --lm "$EXP/lm3.arpa.gz" --alpha "$ALPHA" --beta="$BETA" \
              --errors-file "$EXP/errors_${split}_$dec.tsv")"
      done
    done
  } | tee "$EXP/results.txt"
fi
# stages 6-7: the int8 model, with the decoder that won on dev (and the LM beside it) as its default
export_model() {   # OUT
  DESC="English characters, BiLSTM-CTC, trained on $HOURS h of synthetic TTS speech"
  [ "$GEN" -gt 0 ] && DESC="$DESC + $GEN generated espeak-ng timbres"
  read -r DEC BEAM ALPHA BETA < <(best_dec)
  # a run with train.init_from=… names its parent checkpoints itself (extra.init_from, `speechrnn models`)
  $SR export "$MODEL" "$1" --int8 --description "$DESC (recipes/transcription/run_demo.sh)" \
    --decoder "$DEC" --beam-size "$BEAM" --lm "$EXP/lm3.arpa.gz" --alpha "$ALPHA" --beta="$BETA"
}
if stage 6; then
  export_model "$EXP/model-int8.pt"
fi
if stage 7 && [ "${BUNDLE:-0}" = 1 ]; then   # the LM lands beside it as en-char-bilstm.arpa.gz
  export_model speechrnn/assets/models/en-char-bilstm.pt
  echo "installed speechrnn/assets/models/en-char-bilstm.pt"
fi

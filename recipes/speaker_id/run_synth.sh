#!/usr/bin/env bash
# Synthetic speakers, end to end, one command; also builds the bundled speaker encoder:
#   bash recipes/speaker_id/run_synth.sh                 # all stages
#   BUNDLE=1 bash recipes/speaker_id/run_synth.sh        # + install speechrnn/assets/models/spk-bilstm.pt
#   STAGE=3 bash recipes/speaker_id/run_synth.sh         # resume from stage 3
#   STOP=2 bash recipes/speaker_id/run_synth.sh          # stages 1-2 only (the corpus)
# Stages: 1 synthesize NUM_VOICES closed-set voices x UTTS utterances + VERIFY_VOICES held-out voices
#           + GEN generated espeak-ng timbres x GEN_UTTS utterances (training-only speakers)
#           (+ OTHER_LANG=1: festival's recorded humans of other languages x UTTS, training-only too)
#         2 split the held-out voices: half calibrate the threshold, half are the unseen-voice test
#           (their first ENROLL_UTTS utterances each also enroll them for identification);
#           with OTHER_LANG=1 the other-language humans of HUMAN_TEST_LANGS leave training
#           (train_fit.jsonl) for an unseen-recorded-humans test (humans_test.jsonl)
#         3 train (bilstm.yaml, shared Trainer)    4 calibrate the threshold on the calibration voices
#         5 evaluate: closed-set top-1/top-5; unseen-voice EER/minDCF over every pair of the test
#           voices' utterances (raw + s-norm with a training cohort); DET PNG; identification
#           of the unseen voices' other utterances against centroids of their enrollment recordings;
#           with OTHER_LANG=1, EER over every pair of the held-out recorded humans' utterances
#         6 (BUNDLE=1) install the model, with its threshold, as speechrnn/assets/models/spk-bilstm.pt (int8)
set -euo pipefail
cd "$(dirname "$0")/../.."
SR=${SR:-.venv/bin/speechrnn}
PY=${PY:-.venv/bin/python}
DATA=${DATA:-data/speaker_id/synth}
EXP=${EXP:-exp/speaker_id_synth}
NUM_VOICES=${NUM_VOICES:-70}
UTTS=${UTTS:-120}
VERIFY_VOICES=${VERIFY_VOICES:-30}
GEN=${GEN:-300}                 # generated espeak-ng timbres added as training-only speakers
GEN_UTTS=${GEN_UTTS:-30}        # utterances per generated timbre
ENROLL_UTTS=${ENROLL_UTTS:-5}   # recordings per unseen speaker enrolled for open-set identification
OTHER_LANG=${OTHER_LANG:-0}     # 1: + festival's recorded humans of other languages (SPEECHRNN_EXTRA_VOICES=1 bash scripts/setup.sh)
HUMAN_TEST_LANGS=${HUMAN_TEST_LANGS:-italian finnish catalan}  # with OTHER_LANG=1: their humans are a test, never trained on
source recipes/stages.sh   # STAGE=N starts at stage N, STOP=M ends after stage M
ADATA=$(realpath -m "$DATA")   # absolute, as config paths resolve against the config file
TRAIN="$ADATA/train.jsonl"; [ "$OTHER_LANG" = 1 ] && TRAIN="$ADATA/train_fit.jsonl"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

if stage 1; then
  $SR synth speakers "$DATA" --num-voices "$NUM_VOICES" --utts-per-voice "$UTTS" \
    --verify-voices "$VERIFY_VOICES" --generated-timbres "$GEN" --generated-utts "$GEN_UTTS" \
    $([ "$OTHER_LANG" = 1 ] && echo --other-language-voices) --seed 0 --no-progress
fi
if stage 2; then   # disjoint voices for calibration and for the unseen-voice test
  $PY - "$DATA" "$ENROLL_UTTS" <<'PY'
import sys
from pathlib import Path
from speechrnn.data import read_manifest, write_manifest
d = Path(sys.argv[1])
utts = read_manifest(d / "verify.jsonl")
voices = sorted({u.speaker for u in utts})
calib = set(voices[::2])
write_manifest(d / "calib.jsonl", [u for u in utts if u.speaker in calib])
unseen = [u for u in utts if u.speaker not in calib]
write_manifest(d / "unseen.jsonl", unseen)
# enrollment of never-heard speakers: ENROLL_UTTS recordings each enroll, the rest are probes
n_enroll, count, enroll, probe = int(sys.argv[2]), {}, [], []
for u in unseen:
    count[u.speaker] = count.get(u.speaker, 0) + 1
    (enroll if count[u.speaker] <= n_enroll else probe).append(u)
write_manifest(d / "unseen_enroll.jsonl", enroll)
write_manifest(d / "unseen_probe.jsonl", probe)
PY
  if [ "$OTHER_LANG" = 1 ]; then
    $PY - "$DATA" $HUMAN_TEST_LANGS <<'PY'
import sys
from pathlib import Path
from speechrnn.data import read_manifest, write_manifest
from speechrnn.synth.voices import voice_by_id
d, langs = Path(sys.argv[1]), set(sys.argv[2:])
train = read_manifest(d / "train.jsonl")
lang = {s: voice_by_id(s).language for s in {u.speaker for u in train}}
test = [u for u in train if lang[u.speaker] in langs]
if not test:
    sys.exit(f"no other-language human of {sorted(langs)} in {d}/train.jsonl (HUMAN_TEST_LANGS)")
write_manifest(d / "humans_test.jsonl", test)
write_manifest(d / "train_fit.jsonl", [u for u in train if lang[u.speaker] not in langs])
print(f"unseen recorded humans: {sorted({u.speaker for u in test})}")
PY
  fi
fi
if stage 3; then
  $SR train recipes/speaker_id/bilstm.yaml --exp-dir "$EXP" \
    data.train="$TRAIN" data.dev="$ADATA/dev.jsonl" task.speakers_from="$TRAIN" "$@"
fi
MODEL="$EXP/final.pt"
if stage 4; then
  SRC="$EXP/best.pt"; [ -f "$EXP/averaged.pt" ] && SRC="$EXP/averaged.pt"
  [ -f "$SRC" ] || SRC="$EXP/last.pt"   # no dev metric (tiny dev split): the last weights
  cp "$SRC" "$MODEL"
  $SR speakers calibrate "$DATA/calib.jsonl" --model "$MODEL" --save model --method eer
fi
if stage 5; then
  $SR speakers evaluate "$MODEL" "$EXP/report" --test "$DATA/test.jsonl" \
    --verify "$DATA/unseen.jsonl" --cohort "$DATA/train.jsonl" \
    | tee "$EXP/results.txt"
  # identification among speakers never heard in training, enrolled from ENROLL_UTTS recordings
  $SR speakers evaluate "$MODEL" "$EXP/report_unseen_id" --test "$DATA/unseen_probe.jsonl" \
    --enroll "$DATA/unseen_enroll.jsonl" | sed "s/^identification/unseen speakers, $ENROLL_UTTS enrollment recordings each: identification/" \
    | grep -v '^report' | tee -a "$EXP/results.txt"
  if [ "$OTHER_LANG" = 1 ]; then   # recorded humans never heard in training (other languages)
    $SR speakers evaluate "$MODEL" "$EXP/report_humans" --verify "$DATA/humans_test.jsonl" \
      | sed "s/^verification/unseen recorded humans ($HUMAN_TEST_LANGS): verification/" \
      | grep -v '^report' | tee -a "$EXP/results.txt"
  fi
fi
if stage 6 && [ "${BUNDLE:-0}" = 1 ]; then
  $PY - "$MODEL" "$EXP/bundle-float.pt" "$NUM_VOICES" "$GEN" <<'PY'
import sys
from speechrnn.models.checkpoint import atomic_torch_save, read_checkpoint
ck = read_checkpoint(sys.argv[1])
ck.pop("training", None)
ck["extra"] = {**(ck.get("extra") or {}), "description":
               f"speaker encoder, BiLSTM + attentive stats pooling, AAM; {sys.argv[3]} synthetic voices "
               f"+ {sys.argv[4]} generated espeak-ng timbres (recipes/speaker_id/run_synth.sh)"}
atomic_torch_save(ck, sys.argv[2])
PY
  # int8 weight storage (~4x smaller; metadata and threshold kept)
  $SR export "$EXP/bundle-float.pt" speechrnn/assets/models/spk-bilstm.pt --int8
fi

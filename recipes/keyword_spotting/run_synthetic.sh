#!/usr/bin/env bash
# Synthetic 12-class keyword spotting, one command:
#   bash recipes/keyword_spotting/run_synthetic.sh [NUM_CLIPS_PER_WORD] [NEGATIVE_HOURS]
# Stages: 1 synthesize keywords (Speech Commands layout + manifests), 2 synthesize keyword-free
# sentences (+ 2 h of calibration negatives from another text source), 3 add 1 s windows of half of them to training as _unknown_ (hard negatives),
# 4 train (shared Trainer), 5 evaluate on unseen voices (accuracy, confusion, FRR @ 1 FA/h on the
# other half, DET) and on new clips of the training voices (accuracy, $EXP/report_seen),
# 6 the same FRR/FA measurement for open-vocabulary CTC search ($EXP/report_openvocab).
# EXP (default exp/kws_synth) is the experiment folder; OPENVOCAB=0 skips stage 6.
# Re-running resumes every stage (synthesis fills gaps, training resumes from last.pt).
set -euo pipefail
cd "$(dirname "$0")/../.."
# NEG_SPEECH=sentences.jsonl DEV_NEG=dev.jsonl reuse keyword-free speech manifests (e.g. the
# transcription corpus) instead of synthesizing them (DEV_NEG_HOURS sizes the synthesized
# calibration negatives, default 2 h); extra arguments are training overrides.
# NEG_SPEECH is split by line in two disjoint halves: 1 s windows of the first half are added to
# training as _unknown_ (hard negatives), the second half measures false alarms per hour.
NUM=${1:-1000}
NEG_HOURS=${2:-3.0}
shift $(( $# > 2 ? 2 : $# ))
PY=${PYTHON:-.venv/bin/python}
NEG_SPEECH=${NEG_SPEECH:-}
DEV_NEG=${DEV_NEG:-}
EXP=${EXP:-exp/kws_synth}   # experiment folder

# GEN=N adds N generated espeak-ng timbres to the training voices (default 300; held-out,
# validation and seen-voice test voices stay installed ones)
$PY -m speechrnn synth keywords data/kws_synth --num "$NUM" --unknown-words 40 \
    --generated-timbres "${GEN:-300}" --no-progress
if [ -z "$NEG_SPEECH" ]; then
  $PY -m speechrnn synth transcription data/kws_negatives --hours "$NEG_HOURS" --no-progress
  NEG_SPEECH=data/kws_negatives/train.jsonl
fi
if [ -z "$DEV_NEG" ]; then
  # calibration negatives: another text source (fortunes, not wordnet: no sentence of the FA test)
  # and enough hours that "1 false alarm per hour" is more than "no false alarm at all"
  $PY -m speechrnn synth transcription data/kws_dev_negatives --hours "${DEV_NEG_HOURS:-2.0}" \
      --text-source fortunes --seed 1 --no-progress
  cat data/kws_dev_negatives/{train,dev,test_seen,test_unseen}.jsonl > data/kws_dev_negatives/all.jsonl
  DEV_NEG=data/kws_dev_negatives/all.jsonl
fi
D=$(dirname "$NEG_SPEECH")   # the halves sit beside it: audio paths are relative to the manifest
HALF=$(( $(wc -l < "$NEG_SPEECH") / 2 ))
head -n "$HALF" "$NEG_SPEECH" > "$D/kws_hardneg_source.jsonl"
tail -n +"$((HALF + 1))" "$NEG_SPEECH" > "$D/kws_fa_test.jsonl"
$PY -m speechrnn kws negatives data/kws_synth/train.jsonl "$D/kws_hardneg_source.jsonl" \
    --per-utterance 1 --out data/kws_synth/train_hardneg.jsonl
$PY -m speechrnn train recipes/keyword_spotting/synthetic.yaml --exp-dir "$EXP" \
    data.train="$PWD/data/kws_synth/train_hardneg.jsonl" "$@"
$PY -m speechrnn kws evaluate "$EXP"/best.pt data/kws_synth/test.jsonl \
    --negatives "$D/kws_fa_test.jsonl" --dev-negatives "$DEV_NEG" \
    --fa-per-hour 1 --out-dir "$EXP"/report
$PY -m speechrnn kws evaluate "$EXP"/best.pt data/kws_synth/test_seen.jsonl \
    --out-dir "$EXP"/report_seen
[ "${OPENVOCAB:-1}" = 1 ] || exit 0   # OPENVOCAB=0 skips the comparison below
# the other design, on the same clips and negatives: open-vocabulary CTC keyword search with the
# bundled transcription model (its held-out speakers are the same), no keyword training at all
$PY -m speechrnn kws evaluate --open-vocab "${OPENVOCAB_MODEL:-speechrnn/assets/models/en-char-bilstm.pt}" \
    data/kws_synth/test.jsonl --negatives "$D/kws_fa_test.jsonl" --dev-negatives "$DEV_NEG" \
    --fa-per-hour 1 --out-dir "$EXP"/report_openvocab

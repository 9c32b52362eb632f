#!/usr/bin/env bash
# Adaptation demo, one command (~25 minutes on 2 CPU cores):
#   bash recipes/adaptation/run_demo.sh            # all stages
#   STAGE=3 bash recipes/adaptation/run_demo.sh    # from stage 3
# Stages: 1 build the target domain (make_domain.py: held-out humans + Piper, a telephone line with
#           noise (CHANNEL=room: a noisy reverberant room), fortunes text; ~30 min of unlabeled
#           recordings + a labelled test set of other sentences; EXTRA=2 (default) more sets of
#           ~30 min of unlabeled recordings of other sentences, seeds 1 and 2)
#         2 base model and teacher on the test set
#         3 speechrnn adapt on the unlabeled recordings (--budget-minutes $BUDGET, labelling included)
#         4 adapted model on the test set; the table -> $EXP/results.md
# The test set is never seen by adapt: it tunes only on a slice of its own pseudo-labels.
set -euo pipefail
cd "$(dirname "$0")/../.."
SR=${SR:-.venv/bin/speechrnn}
PY=${PY:-.venv/bin/python}
CHANNEL=${CHANNEL:-telephone}
DATA=${DATA:-data/adapt_demo/domain_$CHANNEL}
EXP=${EXP:-exp/adapt_demo}
BUDGET=${BUDGET:-15}
EXTRA=${EXTRA:-2}
source recipes/stages.sh
wer_json() {   # MODEL MANIFEST -> {"wer", "cer"} with the model file's default decoding
  $PY -c 'import json, sys
from speechrnn.inference.evaluation import evaluate_checkpoint
r, _ = evaluate_checkpoint(sys.argv[1], sys.argv[2])
print(json.dumps({"wer": round(r.wer, 4), "cer": round(r.cer, 4)}))' "$1" "$2"
}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
mkdir -p "$EXP"

# the unlabeled audio: the domain's own (seed 0, whose test set is the table's) and EXTRA more
# sets of ~30 min drawn with other seeds (other sentences; their test sets are never used)
UNLABELED=("$DATA/unlabeled")
for i in $(seq 1 "$EXTRA"); do UNLABELED+=("${DATA}_s$i/unlabeled"); done
if stage 1; then
  [ -f "$DATA/domain.json" ] || $PY recipes/adaptation/make_domain.py "$DATA" --channel "$CHANNEL"
  for i in $(seq 1 "$EXTRA"); do   # none of the earlier seeds' test sentences (the test, dev2) in the audio
    earlier=("$DATA/test.jsonl"); for j in $(seq 1 $((i - 1))); do earlier+=("${DATA}_s$j/test.jsonl"); done
    [ -f "${DATA}_s$i/domain.json" ] || $PY recipes/adaptation/make_domain.py "${DATA}_s$i" --channel "$CHANNEL" --seed "$i" \
      --exclude "${earlier[@]}"
  done
fi
if stage 2; then
  wer_json speechrnn/assets/models/en-char-bilstm.pt "$DATA/test.jsonl" > "$EXP/base_test.json"
  $PY recipes/adaptation/teacher_wer.py "$DATA/test.jsonl" > "$EXP/teacher_test.json"
fi
if stage 3; then
  start=$(date +%s)
  $SR adapt "${UNLABELED[@]}" --out "$EXP/adapted.pt" --budget-minutes "$BUDGET" --threads 2 | tee "$EXP/adapt.log"
  echo $(( $(date +%s) - start )) > "$EXP/adapt_seconds.txt"
fi
if stage 4; then
  wer_json "$EXP/adapted.pt" "$DATA/test.jsonl" > "$EXP/adapted_test.json"
  $PY - "$EXP" "$DATA" "${UNLABELED[@]}" <<'EOF'
import json, sys
from pathlib import Path
exp, data = Path(sys.argv[1]), Path(sys.argv[2])
unlabeled_min = sum(json.loads((Path(u).parent / "domain.json").read_text())["unlabeled_minutes"] for u in sys.argv[3:])
base, teacher, adapted = (json.loads((exp / f).read_text()) for f in ("base_test.json", "teacher_test.json", "adapted_test.json"))
report = json.loads((exp / "adapted.pt.work" / "report.json").read_text())
dom = json.loads((data / "domain.json").read_text())
s, lab = report["seconds"], report["labels"]
rows = [
    "| model | test WER | test CER |", "|---|---|---|",
    f"| bundled en-char-bilstm.pt (its default decoding) | {base['wer']:.1%} | {base['cer']:.1%} |",
    f"| **adapted** (`speechrnn adapt`, {float((exp / 'adapt_seconds.txt').read_text()) / 60:.1f} min wall) | **{adapted['wer']:.1%}** | **{adapted['cer']:.1%}** |",
    f"| teacher: {teacher['teacher']} | {teacher['wer']:.1%} | {teacher['cer']:.1%} |",
    "",
    f"Test: {dom['test_utterances']} utterances ({dom['test_minutes']:.1f} min), other sentences than the "
    f"{unlabeled_min:.1f} min of unlabeled recordings. Labels kept: {lab['kept_hours'] * 60:.1f} of "
    f"{lab['speech_hours'] * 60:.1f} min of speech. Held-out slice (teacher labels): WER "
    f"{report['heldout']['base']['wer']:.1%} -> {report['heldout']['adapted']['wer']:.1%}.",
    "",
    "| stage | seconds |", "|---|---|",
    *[f"| {k} | {v:.0f} |" for k, v in s.items()],
]
(exp / "results.md").write_text("\n".join(rows) + "\n")
print("\n".join(rows))
EOF
fi

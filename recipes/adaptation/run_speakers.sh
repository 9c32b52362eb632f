#!/usr/bin/env bash
# Speaker adaptation demo, one command: unlabeled recordings of voices the bundled encoder never
# heard -> `speechrnn speakers adapt` (resemblyzer teacher, no labels) -> EER before / after /
# teacher on disjoint labelled test clips of the same voices.
#   bash recipes/adaptation/run_speakers.sh          # all stages
#   STAGE=3 bash recipes/adaptation/run_speakers.sh  # resume at adaptation (it resumes itself too)
# Stages: 1 target domain (recipes/adaptation/make_speaker_domain.py: festival's other-language
#           recorded humans, CHANNEL=room|noise|telephone|clean)
#         2 EER of the base encoder and of the teacher on the test clips
#         3 speechrnn speakers adapt on the unlabeled recordings (BUDGET minutes of training)
#         4 EER of the adapted encoder on the same test clips; $EXP/results.txt
# Needs SPEECHRNN_EXTRA_VOICES=1 bash scripts/setup.sh (the voices) and the teacher extra.
set -euo pipefail
cd "$(dirname "$0")/../.."
SR=${SR:-.venv/bin/speechrnn}
PY=${PY:-.venv/bin/python}
DATA=${DATA:-data/adapt_speakers}
EXP=${EXP:-exp/adapt_speakers}
CHANNEL=${CHANNEL:-room}
BUDGET=${BUDGET:-8}
BASE=${BASE:-speechrnn/assets/models/spk-bilstm.pt}
source recipes/stages.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
mkdir -p "$EXP"
t() { date +%s; }
log_time() { echo "$1 $(( $(t) - $2 ))" >> "$EXP/stage_seconds.txt"; }

if stage 1; then s=$(t)
  $PY recipes/adaptation/make_speaker_domain.py "$DATA" --channel "$CHANNEL"
  log_time domain "$s"
fi
if stage 2; then s=$(t)
  $PY recipes/adaptation/speaker_eer.py "$DATA/test.jsonl" "$EXP/eer.json" "base=$BASE" teacher
  log_time eer_base_teacher "$s"
fi
if stage 3; then s=$(t)
  $SR speakers adapt "$DATA/unlabeled" --out "$EXP/spk-adapted.pt" --base "$BASE" --budget-minutes "$BUDGET" \
    --work-dir "$EXP/work" --threads 2 --no-progress
  log_time adapt "$s"
fi
if stage 4; then s=$(t)
  $PY recipes/adaptation/speaker_eer.py "$DATA/test.jsonl" "$EXP/eer.json" "adapted=$EXP/spk-adapted.pt"
  log_time eer_adapted "$s"
  $PY - "$EXP" <<'PY'
import json, sys
from pathlib import Path
exp = Path(sys.argv[1])
eer = json.loads((exp / "eer.json").read_text())
b, a, t = (100 * eer[k]["eer"] for k in ("base", "adapted", "teacher"))
gap = (b - a) / (b - t) if b != t else float("nan")
work = json.loads((exp / "work" / "summary.json").read_text())
lines = [f"unseen-voice EER on the target domain ({eer['base']['target_trials']} target / "
         f"{eer['base']['nontarget_trials']} non-target trials)",
         f"  base {b:.2f}%   adapted {a:.2f}%   teacher (resemblyzer) {t:.2f}%   gap closed {100 * gap:.0f}%",
         f"  adaptation audio: {work['segment_minutes']} min, {work['segments']} segments; adapt stages (s): "
         + ", ".join(f"{k} {v}" for k, v in work["stage_seconds"].items()),
         "  recipe stages (s): " + ", ".join((exp / "stage_seconds.txt").read_text().split("\n")).strip(", ")]
(exp / "results.txt").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PY
fi

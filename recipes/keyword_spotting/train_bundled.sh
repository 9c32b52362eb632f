#!/usr/bin/env bash
# Train the bundled keyword model speechrnn/assets/models/kws-10-bilstm.pt (run on an idle machine).
#   NUM=1000 bash recipes/keyword_spotting/train_bundled.sh train.max_minutes=20
#   (NEG_SPEECH=... DEV_NEG=... reuse keyword-free manifests instead of synthesizing 3 h of them)
# = the synthetic recipe (NUM clips per word, default 1000), then the best checkpoint is copied
# without optimizer state, with the calibrated threshold for 1 FA/h stored as extra.kws_threshold.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
export EXP=${EXP:-exp/kws_synth}
bash recipes/keyword_spotting/run_synthetic.sh "${NUM:-1000}" "${NEG_HOURS:-3.0}" "$@"
$PY - "$EXP" <<'PYEOF'
import json, sys
from speechrnn.models.checkpoint import atomic_torch_save, read_checkpoint
report = json.load(open(f"{sys.argv[1]}/report/report.json"))
ck = read_checkpoint(f"{sys.argv[1]}/best.pt")
ck.pop("training", None)
extra = dict(ck.get("extra") or {})
cal = report.get("calibration", {})
extra.update({"description": "10 keywords + _unknown_ + _silence_, synthetic voices, MFCC-BiLSTM-attention",
              "kws_threshold": cal.get("threshold"), "test_accuracy": report["accuracy"],
              "frr_at_1fa_per_hour": report.get("false_alarms", {}).get("frr_at_target")})
ck["extra"] = extra
atomic_torch_save(ck, "speechrnn/assets/models/kws-10-bilstm.pt")
print("wrote speechrnn/assets/models/kws-10-bilstm.pt", {k: extra[k] for k in ("kws_threshold", "test_accuracy")})
PYEOF
$PY benchmarks/bench_kws.py --model speechrnn/assets/models/kws-10-bilstm.pt

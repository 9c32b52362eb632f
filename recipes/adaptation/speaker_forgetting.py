"""How much speaker adaptation forgets: EER on held-out espeak-ng voices of the bundled recipe and
closed-set top-1, base vs adapted (run after run_speakers.sh).

    python recipes/adaptation/speaker_forgetting.py
"""
import json, sys, time
from pathlib import Path
from speechrnn.synth.presets import SpeakerConfig, build_speakers
from speechrnn.data import read_manifest
from speechrnn.models.checkpoint import load_model
from speechrnn.speakers.evaluate import verification, identification
out = Path("data/adapt_speakers_forget")
t = time.time()
if not (out / "summary.json").exists():
    build_speakers(out, SpeakerConfig(num_voices=70, utts_per_voice=10, verify_voices=15, seed=0, progress=False, jobs=0))
print("synth", round(time.time() - t, 1), flush=True)
ver, test = read_manifest(out / "verify.jsonl"), read_manifest(out / "test.jsonl")
res = {}
for name, p in (("base", "speechrnn/assets/models/spk-bilstm.pt"), ("adapted", "exp/adapt_speakers/spk-adapted.pt")):
    m = load_model(p)
    r = verification(m, ver)[0]["raw"]
    idn = identification(m, test)
    res[name] = {"unseen_espeak_eer": r["eer"], "closed_top1": idn["identification"]["top1"],
                 "closed_top1_among_70": idn.get("identification_closed_set", {}).get("top1"),
                 "verify_utts": len(ver), "test_utts": len(test)}
    print(name, res[name], flush=True)
Path("exp/adapt_speakers/forgetting.json").write_text(json.dumps(res, indent=2) + "\n")

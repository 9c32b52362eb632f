"""Speaker commands: thin wrappers over :class:`speechrnn.inference.speakers.SpeakerIdentifier`.

Examples
--------
    speechrnn enroll alice alice1.wav alice2.wav --store team.json
    speechrnn identify meeting/*.wav --store team.json --format json
    speechrnn verify a.wav b.wav
    speechrnn speakers list --store team.json
    speechrnn speakers remove alice --store team.json
    speechrnn speakers calibrate data/spk/dev.jsonl --save store --store team.json
    speechrnn speakers evaluate exp/spk/best.pt report/ --test data/spk/test.jsonl \\
        --verify data/spk/verify.jsonl --trials data/spk/trials.txt --cohort data/spk/train.jsonl

The store (``--store``, default ``$SPEECHRNN_SPEAKERS`` or ``~/.speechrnn/speakers.json``) is one
JSON file; back it up by copying it. Bad audio files are reported and skipped; the command then
exits with status 1.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .options import (add_device_args, add_positional_out, apply_threads, check_device,
                      gather_inputs, positional_out, positive_float, positive_int, report_failed)


def default_store() -> str:
    return os.environ.get("SPEECHRNN_SPEAKERS") or str(Path.home() / ".speechrnn" / "speakers.json")


def _model_args(p: argparse.ArgumentParser, store: bool = True) -> None:
    p.add_argument("--model", help="speaker model file or bundled name (default: spk-bilstm)")
    if store:
        p.add_argument("--store", default=None, help="speaker store JSON (default: $SPEECHRNN_SPEAKERS "
                                                      "or ~/.speechrnn/speakers.json)")
    p.add_argument("--threshold", type=float, default=None, help="override the calibrated threshold")
    add_device_args(p)


def _identifier(args):
    from ..inference.models import resolve_model
    from ..inference.speakers import SpeakerIdentifier

    check_device(args.device)
    apply_threads(args.threads)
    store = getattr(args, "store", None) or default_store()
    model = resolve_model(args.model, "speakers")
    return SpeakerIdentifier.load(model, store, device=args.device,
                                  threshold=args.threshold)


def _embed_files(sid, files, cmd: str):
    """``[(file, embedding)]`` for the usable files; prints a line per bad one."""
    from ..errors import SpeechRNNError

    good = []
    for f in files:
        try:
            good.append((f, sid.embed(f)))
        except SpeechRNNError as e:
            print(f"speechrnn {cmd}: skipped {f}: {e}", file=sys.stderr)
    return good


# ---------------------------------------------------------------------- commands
def run_enroll(args) -> int:
    import numpy as np

    files, empty = gather_inputs("enroll", args.files)
    sid = _identifier(args)
    good = _embed_files(sid, files, "enroll")
    if good:
        n = sid.add_embeddings(args.name, np.stack([e for _, e in good]), [f for f, _ in good],
                               replace=args.replace)
        print(f"enrolled {args.name!r}: {len(good)} recording(s) added, {n} in total "
              f"({sid.store.path})")
    else:
        print(f"speechrnn enroll: no usable recording; {args.name!r} not enrolled", file=sys.stderr)
    return report_failed("enroll", len(files) - len(good) + empty, len(files) + empty)


def run_identify(args) -> int:
    files, failed = gather_inputs("identify", args.files)
    empty = failed
    sid = _identifier(args)
    from ..errors import SpeechRNNError

    for f in files:
        try:
            m = sid.identify(f, top_k=args.top_k)
        except SpeechRNNError as e:
            from ..errors import AudioError

            if not isinstance(e, AudioError):
                raise
            failed += 1
            print(f"speechrnn identify: skipped {f}: {e}", file=sys.stderr)
            continue
        if args.format == "json":
            print(json.dumps(m.to_dict()), flush=True)
        else:
            print(f"{f}\t{m.speaker}\t{m.score:.4f}", flush=True)
    return report_failed("identify", failed, len(files) + empty)


def run_verify(args) -> int:
    from ..errors import AudioError

    sid = _identifier(args)
    try:
        v = sid.verify(args.a, args.b)
    except AudioError as e:   # an input that cannot be read: exit 1, like any failed input
        print(f"speechrnn verify: {e}", file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps(v.to_dict()))
    else:
        print(f"{'same' if v.same else 'different'}\t{v.score:.4f}\t(threshold {v.threshold:.4f})")
    return 0


def run_list(args) -> int:
    from ..speakers.store import SpeakerStore

    store = SpeakerStore(args.store or default_store())
    info = store.info()
    print(f"store {store.path}: {len(info['speakers'])} speaker(s), threshold {info['threshold']}, "
          f"model {info['model']}")
    for name, n in info["speakers"].items():
        print(f"{name}\t{n}")
    return 0


def run_remove(args) -> int:
    from ..speakers.store import SpeakerStore

    store = SpeakerStore(args.store or default_store())
    if not store.remove(args.name):
        print(f"speechrnn speakers remove: no speaker {args.name!r} in {store.path}", file=sys.stderr)
        return 1
    print(f"removed {args.name!r} from {store.path}")
    return 0


def run_calibrate(args) -> int:
    from ..data import read_manifest

    utts = [u for u in read_manifest(args.manifest) if u.speaker]
    sid = _identifier(args)
    info = sid.calibrate([u.audio for u in utts], [u.speaker for u in utts], method=args.method,
                         save=None if args.save == "none" else args.save)
    print(json.dumps(info, indent=2))
    return 0


def run_evaluate(args) -> int:
    from ..inference.models import resolve_model
    from ..speakers.evaluate import evaluate_speakers

    check_device(args.device)
    out_dir = positional_out(args, "out_dir")
    rep = evaluate_speakers(resolve_model(args.checkpoint), out_dir, test=args.test, enroll=args.enroll,
                            verify=args.verify, trials=args.trials, cohort=args.cohort,
                            p_target=args.p_target, max_seconds=args.max_seconds, device=args.device)
    for key in ("identification", "identification_closed_set"):
        if key in rep:
            r = rep[key]
            print(f"identification ({r['method']}): top-1 {100 * r['top1']:.2f}%  top-5 {100 * r['top5']:.2f}%  "
                  f"({r['utterances']} utterances, {r['speakers']} speakers, among {r['classes']})")
    for name, r in rep.get("verification", {}).items():
        print(f"verification {name}: EER {100 * r['eer']:.2f}%  minDCF(p={r['p_target']}) {r['min_dcf']:.4f}  "
              f"({r['target_trials']} target / {r['nontarget_trials']} non-target trials)")
    print(f"report: {Path(out_dir) / 'report.json'}")
    from .cmd_evaluate import report_unreadable

    return report_unreadable("speakers evaluate", rep["unreadable"])


def run_adapt(args) -> int:
    from ..adapt.speakers import SpeakerAdaptConfig, adapt_speakers

    cfg = SpeakerAdaptConfig(budget_minutes=args.budget_minutes, replay_dir=args.replay_dir,
                             threads=args.threads or 0, progress=not args.no_progress and sys.stderr.isatty())
    s = adapt_speakers(args.inputs, args.out, base=args.base, work_dir=args.work_dir, cfg=cfg)
    for name, why in s["skipped_inputs"]:
        print(f"speechrnn speakers adapt: skipped {name}: {why}", file=sys.stderr)
    times = "  ".join(f"{k} {v:.0f} s" for k, v in s["stage_seconds"].items())
    print(f"{s['segments']} segments ({s['segment_minutes']} min) from the inputs; stages: {times}")
    print(f"adapted model: {s['out']} (dev agreement with the teacher: {s['training']['best']})")
    return 1 if s["skipped_inputs"] else 0


def register(sub) -> None:
    e = sub.add_parser("enroll", help="enroll a speaker from recordings into the speaker store",
                       description="Embed FILES and add them to speaker NAME in the store "
                                   "(created if missing). Bad files are reported and skipped.")
    e.add_argument("name")
    e.add_argument("files", nargs="+", help="audio files, directories or glob patterns")
    e.add_argument("--replace", action="store_true", help="replace NAME's earlier recordings")
    _model_args(e)
    e.set_defaults(func=run_enroll)

    i = sub.add_parser("identify", help="who is speaking: best enrolled speaker or 'unknown'",
                       description="For each file print FILE<TAB>SPEAKER<TAB>SCORE; SPEAKER is "
                                   "'unknown' when the best score is below the threshold.")
    i.add_argument("files", nargs="+", help="audio files, directories or glob patterns")
    i.add_argument("--format", choices=["tsv", "json"], default="tsv")
    i.add_argument("--top-k", type=positive_int, default=5, help="candidates listed in JSON output")
    _model_args(i)
    i.set_defaults(func=run_identify)

    v = sub.add_parser("verify", help="are two recordings the same speaker?")
    v.add_argument("a")
    v.add_argument("b")
    v.add_argument("--format", choices=["tsv", "json"], default="tsv")
    _model_args(v, store=True)
    v.set_defaults(func=run_verify)

    s = sub.add_parser("speakers", help="manage the speaker store; calibrate; evaluate a speaker model",
                       description=(__doc__ or "").partition("Examples\n--------\n")[2] or None,  # no docstrings under python -OO
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    ss = s.add_subparsers(dest="action", metavar="ACTION")
    ss.required = True
    ls = ss.add_parser("list", help="enrolled speakers and their recording counts")
    ls.add_argument("--store", default=None)
    ls.set_defaults(func=run_list)
    rm = ss.add_parser("remove", help="delete a speaker from the store")
    rm.add_argument("name")
    rm.add_argument("--store", default=None)
    rm.set_defaults(func=run_remove)
    c = ss.add_parser("calibrate", help="choose the decision threshold on dev recordings")
    c.add_argument("manifest", help="JSONL manifest with 'speaker' labels (every pair is a trial)")
    c.add_argument("--method", choices=["eer", "mindcf"], default="eer")
    c.add_argument("--save", choices=["store", "model", "none"], default="store",
                   help="where to keep the threshold: the store file, the model file's metadata, or nowhere")
    _model_args(c)
    c.set_defaults(func=run_calibrate)
    ev = ss.add_parser("evaluate", help="identification top-1/top-5, verification EER/minDCF, DET PNG")
    ev.add_argument("checkpoint", help="speaker model file or bundled name")
    add_positional_out(ev, "out_dir", "folder that receives report.json and det.png", "OUT_DIR")
    ev.add_argument("--test", help="manifest for closed-set identification")
    ev.add_argument("--enroll", help="manifest whose speakers' centroids identify --test by cosine")
    ev.add_argument("--verify", help="manifest of verification utterances")
    ev.add_argument("--trials", help="trial list over --verify ids (default: every pair)")
    ev.add_argument("--cohort", help="manifest of cohort utterances for s-norm (e.g. train)")
    ev.add_argument("--p-target", type=float, default=0.01, help="minDCF target prior")
    ev.add_argument("--max-seconds", type=positive_float, default=60.0,
                    help="audio seconds per batch")
    add_device_args(ev, threads=False)
    ev.set_defaults(func=run_evaluate)
    ad = ss.add_parser("adapt", help="adapt the speaker encoder to unlabeled recordings (no labels: a "
                                     "teacher trained on real speech is distilled into it)",
                       description="Cut INPUTS into voiced segments, embed them with resemblyzer's "
                                   "encoder (pip install 'speechrnn[teacher]') and fine-tune the speaker "
                                   "encoder so its similarities match the teacher's, mixed with a small "
                                   "synthetic corpus of its own speakers. Rerun to resume.")
    ad.add_argument("inputs", nargs="+", help="audio files, folders, globs or manifests (speaker fields ignored)")
    ad.add_argument("--out", required=True, help="adapted speaker model file (.pt)")
    ad.add_argument("--base", help="speaker model to start from (default: the bundled spk-bilstm.pt)")
    ad.add_argument("--budget-minutes", type=positive_float, default=10.0, help="training time budget")
    ad.add_argument("--work-dir", help="caches and the training run (default: OUT.work); a rerun resumes")
    ad.add_argument("--replay-dir", help="cache of the synthetic replay corpus, to share between runs")
    ad.add_argument("--threads", type=positive_int, help="torch CPU threads")
    ad.add_argument("--no-progress", action="store_true", help="no progress bars")
    ad.set_defaults(func=run_adapt)

"""VoxCeleb1 importer: identification splits and verification trials.

Layout::

    <corpus_dir>/wav/<speaker>/<video>/<nnnnn>.wav   # e.g. wav/id10001/1zcIwhmdeo4/00001.wav
    <corpus_dir>/iden_split.txt    # "1 id10001/1zcIwhmdeo4/00001.wav" (1=train 2=dev 3=test)
    <corpus_dir>/veri_test2.txt    # "1 id10270/x6uYqmx31kE/00001.wav id10270/8jEAjG6SegY/00008.wav"
    <corpus_dir>/veri_test.txt     # (original list; the cleaned veri_test2.txt is preferred)

Utterance ids are the relative paths without extension
(``id10001/1zcIwhmdeo4/00001``); ``speaker`` is the ``idNNNNN`` folder.

Splits
------
``train``/``dev``/``test``
    from ``iden_split.txt`` (closed-set identification, 1251 speakers).
``veri_train``/``veri_test``
    when a trial list is used: ``veri_test`` holds every utterance the trials
    refer to, ``veri_train`` every utterance of speakers that appear in no
    trial (the standard VoxCeleb1 dev/test speaker split).
``all``
    every file, only when neither ``iden_split.txt`` nor a trial list exists.

Trials are written to ``<output_dir>/trials.tsv`` (``label<TAB>enroll<TAB>test``,
label 1 = same speaker) and read back with :func:`read_trials`, which also
reads the original ``veri_test*.txt`` format.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ...errors import CorpusError, ManifestError
from ...fileio import atomic_write
from ..manifest import Utterance
from .common import (
    audio_duration,
    fail_on_missing,
    parse_table,
    require_dir,
    require_file,
    write_splits,
)

IDEN_SPLITS = {"1": "train", "2": "dev", "3": "test"}
DEFAULT_TRIAL_LISTS = ("veri_test2.txt", "veri_test.txt")


@dataclass(frozen=True)
class Trial:
    """One verification trial: do ``enroll`` and ``test`` (utterance ids) share a speaker?"""

    label: int  # 1 = same speaker (target), 0 = different (non-target)
    enroll: str
    test: str


def _utt_id(rel: str) -> str:
    """``id10001/vid/00001.wav`` -> ``id10001/vid/00001``."""
    return rel[:-4] if rel.lower().endswith(".wav") else rel


def read_trials(path: str | os.PathLike) -> list[Trial]:
    """Read a trial list: ``trials.tsv`` or the original ``veri_test*.txt``.

    Each non-blank line is ``<0|1> <enroll> <test>`` (tabs or spaces);
    ``.wav`` suffixes are stripped so the ids match manifest ids.

    Raises
    ------
    ManifestError
        Listing every malformed line (field count, label not 0/1).
    """
    trials, problems = [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 3:
                problems.append(
                    (n, f"expected '<0|1> <enroll> <test>', got {len(fields)} field(s)")
                )
            elif fields[0] not in ("0", "1"):
                problems.append((n, f"label must be 0 or 1, got {fields[0]!r}"))
            else:
                trials.append(Trial(int(fields[0]), _utt_id(fields[1]), _utt_id(fields[2])))
    if problems:
        raise ManifestError(path, problems)
    return trials


def write_trials(path: str | os.PathLike, trials: list[Trial]) -> None:
    """Write trials as ``label<TAB>enroll<TAB>test`` lines, atomically."""
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.writelines(f"{t.label}\t{t.enroll}\t{t.test}\n" for t in trials)


def voxceleb_trials(corpus_dir: str | os.PathLike, trial_list: str | None = None) -> list[Trial]:
    """Trials of ``trial_list`` (a file name inside ``corpus_dir``; default
    ``veri_test2.txt`` else ``veri_test.txt``), checked against the ``wav/`` tree.

    Returns an empty list when no default trial list exists; raises
    CorpusError when a named list is missing or refers to missing audio.
    """
    root = Path(corpus_dir)
    path = _find_trial_list(root, trial_list)
    if path is None:
        return []
    trials = read_trials(path)
    wav = root / "wav"
    ids = sorted({t.enroll for t in trials} | {t.test for t in trials})
    fail_on_missing(
        [f"{i}.wav" for i in ids if not (wav / f"{i}.wav").is_file()],
        f"files named in {path.name} are missing under wav/",
        root,
    )
    return trials


def _find_trial_list(root: Path, trial_list: str | None) -> Path | None:
    if trial_list is not None:
        return require_file(root / trial_list, f"VoxCeleb trial list {trial_list!r}")
    return next((root / n for n in DEFAULT_TRIAL_LISTS if (root / n).is_file()), None)


def prepare_voxceleb(
    corpus_dir: str | os.PathLike,
    output_dir: str | os.PathLike | None = None,
    *,
    trial_list: str | None = None,
) -> dict[str, list[Utterance]]:
    """Build VoxCeleb1 identification/verification manifests (see module docstring).

    Parameters
    ----------
    corpus_dir : path-like
        Folder holding ``wav/`` and the split/trial lists.
    output_dir : path-like, optional
        Where to write ``<split>.jsonl`` and, with trials, ``trials.tsv``.
    trial_list : str, optional
        Trial list file name inside ``corpus_dir`` (e.g. ``list_test_hard2.txt``).

    Returns
    -------
    dict
        Split name -> utterances with ``speaker`` set and ``extra["video"]``.

    Raises
    ------
    CorpusError
        Missing ``wav/`` folder, files named in the lists missing, bad split codes.
    """
    root = require_dir(Path(corpus_dir), "VoxCeleb corpus folder")
    wav = require_dir(root / "wav", "wav/ folder of VoxCeleb")
    cache: dict[str, Utterance] = {}

    def utt(rel_id: str) -> Utterance:
        if rel_id not in cache:
            path = wav / f"{rel_id}.wav"
            speaker, video = rel_id.split("/")[:2]
            cache[rel_id] = Utterance(
                id=rel_id,
                audio=str(path.resolve()),
                duration=audio_duration(path),
                speaker=speaker,
                extra={"video": video},
            )
        return cache[rel_id]

    splits: dict[str, list[Utterance]] = {}
    iden = root / "iden_split.txt"
    if iden.is_file():
        splits.update(_iden_splits(iden, wav, utt))
    trials = voxceleb_trials(root, trial_list)
    if trials:
        test_ids = sorted({t.enroll for t in trials} | {t.test for t in trials})
        test_speakers = {i.split("/")[0] for i in test_ids}
        all_ids = sorted(_utt_id(p.relative_to(wav).as_posix()) for p in wav.glob("*/*/*.wav"))
        splits["veri_train"] = [utt(i) for i in all_ids if i.split("/")[0] not in test_speakers]
        splits["veri_test"] = [utt(i) for i in test_ids]
        if output_dir is not None:
            write_trials(Path(output_dir) / "trials.tsv", trials)
    if not splits:
        all_ids = sorted(_utt_id(p.relative_to(wav).as_posix()) for p in wav.glob("*/*/*.wav"))
        if not all_ids:
            raise CorpusError(f"{wav}: no audio (expected wav/<speaker>/<video>/<nnnnn>.wav)")
        splits["all"] = [utt(i) for i in all_ids]
    write_splits(output_dir, splits)
    return splits


def _iden_splits(path: Path, wav: Path, utt) -> dict[str, list[Utterance]]:
    out: dict[str, list[Utterance]] = {name: [] for name in IDEN_SPLITS.values()}
    missing = []
    for n, (code, rel) in parse_table(path, 2, 2):
        if code not in IDEN_SPLITS:
            raise CorpusError(f"{path}:{n}: split code must be 1, 2 or 3, got {code!r}")
        if not (wav / rel).is_file():
            missing.append(rel)
            continue
        out[IDEN_SPLITS[code]].append(utt(_utt_id(rel)))
    fail_on_missing(missing, f"files named in {path.name} are missing under wav/", path.parent)
    return out

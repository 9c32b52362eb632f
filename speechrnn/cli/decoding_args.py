"""Decoding options shared by ``transcribe``, ``evaluate`` and ``export``.

Options given override only themselves: the model file's stored default decoding (its decoder,
LM and weights; ``speechrnn models`` shows it) is kept for everything not given, e.g.
``--alpha 0.8`` alone keeps the stored lexicon search and LM with another LM weight. Mistakes
are reported with the option names (``--decoder lexicon needs --lm …``), not config fields.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ..errors import ConfigError
from .options import positive_int

_OPTIONS = ("decoder", "beam_size", "lm", "lexicon", "alpha", "beta")


def add_decoding_args(p, hotwords: bool = True) -> None:
    """Add ``--decoder --beam-size --lm --lexicon --alpha --beta [--hotword]`` to a parser."""
    g = p.add_argument_group(
        "decoding", "Default: the model file's stored decoding (`speechrnn models` shows it), "
                    "else greedy. Each option given replaces only its own part of it.")
    g.add_argument("--decoder", choices=["greedy", "beam", "lexicon"],
                   help="greedy best path; beam: prefix beam search (+LM, hotwords); lexicon: beam "
                        "search that outputs lexicon words only (+LM). Without --decoder: the "
                        "stored decoder, or beam when a greedy model is given --beam-size > 1, "
                        "--lm, --lexicon or --hotword")
    g.add_argument("--beam-size", type=positive_int,
                   help="hypotheses kept per frame (beam/lexicon; default 32)")
    g.add_argument("--lm", help="KenLM word n-gram (ARPA or binary)")
    g.add_argument("--lexicon", help="allowed words, one per line (default for --decoder lexicon: "
                                     "the ARPA LM's unigrams)")
    g.add_argument("--alpha", type=float, help="LM weight (default 0.5)")
    g.add_argument("--beta", type=float, help="word insertion bonus (default 1.0)")
    if hotwords:
        g.add_argument("--hotword", action="append",
                       help="word or phrase to boost (repeatable; beam search)")


def _given(args) -> bool:
    return bool(getattr(args, "hotword", None)) or any(
        getattr(args, n, None) is not None for n in _OPTIONS)


def merge_decoding(stored, args):
    """The decoding ``stored`` (a :class:`~speechrnn.decoding.DecodingConfig` or ``None``:
    greedy) with the parsed decoding options applied on top (validated).

    Raises
    ------
    ConfigError
        The options cannot work together; the message names the options.
    """
    from ..decoding import DecodingConfig
    from ..decoding.lexicon import is_arpa

    base = stored or DecodingConfig()
    hot = list(getattr(args, "hotword", None) or [])
    d = dataclasses.asdict(base)
    for opt, key in (("lm", "lm_path"), ("lexicon", "lexicon_path")):
        value = getattr(args, opt)
        if value is not None:
            if not Path(value).is_file():
                raise ConfigError(f"--{opt} {value}: file not found")
            d[key] = value
    for key in ("beam_size", "alpha", "beta"):
        if getattr(args, key) is not None:
            d[key] = getattr(args, key)
    if hot:
        d["hotwords"] = hot
    method = args.decoder
    if method is None:
        method = base.method
        if method == "greedy" and ((args.beam_size or 1) > 1 or args.lm or args.lexicon or hot):
            method = "beam"
        elif method == "lexicon" and hot:
            method = "beam"  # hotwords are a beam-search feature; the stored LM and weights stay
    d["method"] = method
    if method == "greedy":
        clash = [f"--{o}" for o in ("lm", "lexicon") if getattr(args, o) is not None]
        clash += ["--hotword"] if hot else []
        if clash:
            raise ConfigError(f"--decoder greedy uses no {', '.join(clash)}; use --decoder beam")
        weights = [f"--{o}" for o in ("alpha", "beta") if getattr(args, o) is not None]
        if weights and args.decoder is None:
            raise ConfigError(f"{' and '.join(weights)} weigh a language model: give --lm (this "
                              "model has no default LM decoding)")
        d.update(lm_path=None, lexicon_path=None, hotwords=[])
    if method == "lexicon":
        if hot:
            raise ConfigError("--hotword needs --decoder beam (lexicon search boosts no hotwords)")
        if not d["lexicon_path"] and not is_arpa(d["lm_path"]):
            raise ConfigError("--decoder lexicon needs --lexicon FILE, or an ARPA --lm whose "
                              "words are the lexicon" + ("" if d["lm_path"] is None else
                                                         f" ({d['lm_path']} is not ARPA)"))
    from ..config import from_dict

    return from_dict(DecodingConfig, d, "decoding")


def decoding_for(args, model_path):
    """The decoding the options ask for on the model file ``model_path``: ``None`` when no
    decoding option is given (the model's stored default then applies as it is), else the
    stored default with the options applied (:func:`merge_decoding`)."""
    if not _given(args):
        return None
    from ..inference.model_decoding import stored_decoding

    return merge_decoding(stored_decoding(model_path), args)

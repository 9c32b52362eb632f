"""Decoding options shared by ``speechrnn transcribe`` and ``speechrnn evaluate``."""
from __future__ import annotations


def add_decoding_args(p, hotwords: bool = True) -> None:
    """Add ``--decoder --beam-size --lm --lexicon --alpha --beta [--hotword]`` to a parser."""
    g = p.add_argument_group("decoding")
    g.add_argument("--decoder", choices=["greedy", "beam", "lexicon"],
                   help="greedy best path; beam: prefix beam search (+LM, hotwords); lexicon: beam "
                        "search that outputs lexicon words only (+LM). Default: the model file's "
                        "stored decoding (`speechrnn models` shows it) when no decoding option is "
                        "given, else greedy, or beam when --beam-size > 1, --lm or --hotword is given")
    g.add_argument("--beam-size", type=int, help="hypotheses kept per frame (beam/lexicon; default 32)")
    g.add_argument("--lm", help="KenLM word n-gram (ARPA or binary)")
    g.add_argument("--lexicon", help="allowed words, one per line (default for --decoder lexicon: "
                                     "the ARPA LM's unigrams)")
    g.add_argument("--alpha", type=float, help="LM weight (default 0.5)")
    g.add_argument("--beta", type=float, help="word insertion bonus (default 1.0)")
    if hotwords:
        g.add_argument("--hotword", action="append", help="word or phrase to boost (repeatable)")


def decoding_config(args):
    """The :class:`~speechrnn.decoding.DecodingConfig` the parsed options ask for (validated);
    ``None`` when no decoding option is given (the model file's default then applies)."""
    from ..config import from_dict
    from ..decoding import DecodingConfig

    hot = getattr(args, "hotword", None) or []
    names = ("decoder", "beam_size", "lm", "lexicon", "alpha", "beta")
    if not hot and all(getattr(args, n) is None for n in names):
        return None
    method = args.decoder or (
        "beam" if ((args.beam_size or 1) > 1 or args.lm or args.lexicon or hot) else "greedy")
    d = {"method": method, "lm_path": args.lm, "lexicon_path": args.lexicon, "hotwords": hot}
    for key in ("beam_size", "alpha", "beta"):
        if getattr(args, key) is not None:
            d[key] = getattr(args, key)
    return from_dict(DecodingConfig, d, "decoding")

"""Command-line entry point: a thin layer that parses arguments and calls the API.

Each sub-command lives in its own module ``speechrnn/cli/cmd_<name>.py`` exposing
``register(subparsers)`` which adds a parser and sets ``func=callable(args) -> int``.
Modules are discovered, so adding a command touches no shared file.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from ..errors import SpeechRNNError


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="speechrnn",
        description="MFCC + BiLSTM + CTC speech toolkit: transcription, keywords, speakers.",
    )
    parser.add_argument("--version", action="version", version=f"speechrnn {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("cmd_")):
        importlib.import_module(f"{__name__}.{mod}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except SpeechRNNError as e:
        print(f"speechrnn {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

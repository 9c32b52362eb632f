"""Command-line entry point: a thin layer that parses arguments and calls the API.

Each sub-command lives in its own module ``speechrnn/cli/cmd_<name>.py`` exposing
``register(subparsers)`` which adds a parser and sets ``func=callable(args) -> int``.
Modules are discovered, so adding a command touches no shared file. Registering must not
import torch (``speechrnn --help`` and ``--version`` stay fast); shared options and the exit
status convention are in :mod:`speechrnn.cli.options`.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys

from ..errors import SpeechRNNError

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141


def _tag_parsers(parser: argparse.ArgumentParser) -> None:
    """Record on every (sub-)parser's namespace which parser it is, so a stray argument is
    reported with that sub-command's usage rather than the top-level one."""
    parser.set_defaults(_parser=parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                _tag_parsers(sub)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="speechrnn",
        description="MFCC + BiLSTM + CTC speech toolkit: transcription, keywords, speakers.",
        epilog="Exit status: 0 done; 1 some inputs failed (each is named on stderr); 2 usage or "
               "configuration error; 3 internal error (a bug).",
    )
    parser.add_argument("--version", action="version", version=f"speechrnn {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("cmd_")):
        importlib.import_module(f"{__name__}.{mod}").register(sub)
    _tag_parsers(parser)
    return parser


def _stdout_gone() -> int:
    """The reader of stdout closed the pipe (``| head``): stop quietly, as ``cat`` would."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail too
    except (OSError, ValueError):
        pass
    return EXIT_BROKEN_PIPE


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        args._parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    name = args._parser.prog.removeprefix("speechrnn ")
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return status
    except BrokenPipeError:
        return _stdout_gone()
    except SpeechRNNError as e:
        print(f"speechrnn {name}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (OSError, UnicodeDecodeError) as e:  # a missing, unreadable or non-text file given
        print(f"speechrnn {name}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:  # noqa: BLE001 - a bug: show it, and do not exit 1 ("some inputs failed")
        import traceback

        traceback.print_exc()
        print(f"speechrnn {name}: internal error (a bug; please report it with the traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The ``advisor`` command line: argument parsing and dispatch. Each command lives in its own module.

Commands only read input, call the library and print. Errors meaning "your input is wrong" become
one line on stderr and exit code 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from advisor import __version__
from advisor.cli import arch, calibrate, doctor, evaluate, fit, measure, predict, probe, recommend, runs, tui

COMMANDS = (recommend, tui, arch, doctor, calibrate, probe, runs, fit, predict, evaluate, measure)
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The full parser; subcommand modules register themselves."""
    parser = _Parser(prog="advisor", description="Energy advisor for fully connected networks (BUTTER-E).")
    parser.add_argument("--version", action="version", version=f"advisor {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in COMMANDS:
        module.register(subparsers)
    return parser


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean bad input or an unusable environment, not a bug."""
    from advisor.errors import USER_ERRORS

    return USER_ERRORS


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    import logging

    logging.basicConfig(level=logging.WARNING, format="advisor: warning: %(message)s")
    try:
        return int(args.handler(args) or 0)
    except user_errors() as exc:
        print(f"advisor: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("advisor: interrupted", file=sys.stderr)
        return 130

"""``advisor tui``: the terminal UI."""

from __future__ import annotations

import argparse
from pathlib import Path

from advisor.cli.common import PROFILE_HELP


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``tui`` command."""
    p = subparsers.add_parser("tui", help="open the terminal UI (advise, calibrate, profile)")
    p.add_argument("--profile", type=Path, help=PROFILE_HELP)
    p.add_argument("--store", type=Path, help="run store for calibrations started in the UI")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the app until the user quits."""
    from advisor.tui.app import AdvisorApp

    AdvisorApp(args.profile, args.store).run()
    return 0

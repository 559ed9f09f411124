"""``wnnrec``: the command line, one module per command of :mod:`wnnrec.cli`.

Each command module has ``register(subcommands)``, which adds its parser (and its sub-commands') with what each does.
"""

from __future__ import annotations

import argparse
import sys

from stream.admin import BrokerUnavailable
from stream.declarations import SettingsError
from stream.settings import ApiTokenError
from stream.version import package_version
from wnnrec.cli import audit, bench, catalogue, data, evaluate, replay, run, worker
from wnnrec.cli.arguments import add_subcommands
from wnnrec.datasets import DataError

#: The commands, in the order ``--help`` lists them.
COMMANDS = (data, evaluate, bench, audit, replay, catalogue, worker, run)
#: Modules of the ``eval`` extras (the peers and the plots), which a worker's install leaves out.
EVAL_MODULES = {"river", "sklearn", "surprise", "matplotlib"}
#: Errors the user can fix (missing data, no broker, no API token, a setting out of range): one line, exit 2.
USER_ERRORS = (DataError, BrokerUnavailable, ApiTokenError, SettingsError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wnnrec",
        description="Streaming recommender with one weightless neural network per user.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Start with `wnnrec data fetch`, then `make run` (or `wnnrec run`) for the main job.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    subcommands = add_subcommands(parser, "command")
    for command in COMMANDS:
        command.register(subcommands)
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse, and report an unknown option or a missing sub-command with the usage of the deepest command given
    (argparse itself reports an unknown option of ``wnnrec replay`` with the top-level usage)."""
    args, extras = parser.parse_known_args(argv)
    where: argparse.ArgumentParser = getattr(args, "command_parser", parser)
    if extras:
        where.error(f"unrecognized arguments: {' '.join(extras)}")
    dest, subcommands = args.subcommands_of_command
    if getattr(args, dest, None) is None:
        where.error(f"choose one of: {', '.join(subcommands.choices)} (see --help)")
    return args


def main(argv: list[str] | None = None) -> int:
    """Parse and run; errors the user can fix print one clear line and exit 2."""
    parser = build_parser()
    args = parse_args(parser, argv)
    try:
        code: int = args.run_command(args)
        return code
    except USER_ERRORS as exc:
        print(f"wnnrec: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in EVAL_MODULES:
            print(
                f"wnnrec: {args.command} needs the evaluation extras ({exc.name} is missing): "
                "pip install 'wnnrec[eval]'",
                file=sys.stderr,
            )
            return 2
        raise
    except KeyboardInterrupt:
        return 130

"""What the commands of ``wnnrec`` share: their common flags, the settings' flags, sub-commands, JSON results."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from stream.declarations import SettingsError
from stream.settings import Settings, declarations


class Subcommands(Protocol):
    """The sub-commands of a command (what ``ArgumentParser.add_subparsers`` returns)."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser: ...

    @property
    def choices(self) -> Mapping[str, argparse.ArgumentParser]: ...


def add_subcommands(parser: argparse.ArgumentParser, dest: str, **kwargs: Any) -> Subcommands:
    """Sub-commands of ``parser``, the one given stored in ``dest``. Each parser made with :func:`add_command`
    remembers itself, so that a mistake is reported with the usage of the command it was made in
    (:func:`wnnrec.cli.main.parse_args`)."""
    subcommands = parser.add_subparsers(dest=dest, metavar=kwargs.pop("metavar", dest.upper()), **kwargs)
    parser.set_defaults(subcommands_of_command=(dest, subcommands))
    return subcommands


def add_command(
    subcommands: Subcommands, name: str, run: Callable[[argparse.Namespace], int] | None = None, **kwargs: Any
) -> argparse.ArgumentParser:
    """A sub-command ``name``; ``run`` is what it does (None: it has sub-commands of its own)."""
    parser = subcommands.add_parser(name, **kwargs)
    parser.set_defaults(command_parser=parser, run_command=run)
    return parser


def csv_of(kind: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    """An argparse type for comma-separated values of ``kind`` (``--users 1000,100000``)."""
    return lambda text: [kind(x) for x in text.split(",") if x]


def add_json_arg(parser: argparse.ArgumentParser) -> None:
    """``--json PATH``: also write the command's whole result there (it always prints a summary)."""
    parser.add_argument("--json", metavar="PATH", default=None, help="also write the whole result here, as JSON")


def write_json_result(path: str | None, result: dict[str, Any]) -> None:
    """Write a command's result to ``path`` (making its folder), and say so; nothing without a path."""
    if path is None:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


def add_data_arg(parser: argparse.ArgumentParser) -> None:
    """``--data DIR``: the dataset folder (the settings' ``data``)."""
    parser.add_argument(
        "--data",
        metavar="DIR",
        default=None,
        help="dataset folder: RecBole ml-100k, GroupLens ml-100k (u.data/u.item) or ml-latest-small "
        "(ratings.csv/movies.csv). Default: $WNNREC_DATA or ~/.cache/wnnrec, ml-100k inside.",
    )


def add_quiet_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_setting_args(parser: argparse.ArgumentParser, *groups: str, leave_out: tuple[str, ...] = ()) -> None:
    """The flags of every setting declared in ``groups`` (see :func:`stream.settings.setting`) but those named in
    ``leave_out`` (settings the command does not use), with their help, default and environment variable; they all
    default to None, so that only what was given overrides :class:`Settings`. A yes/no setting is ``--x`` /
    ``--no-x``."""
    for group in groups:
        arguments = parser.add_argument_group(f"{group} settings (each also from its environment variable)")
        for name, declaration in declarations().items():
            if declaration.group != group or declaration.flag is None or name in leave_out:
                continue
            flags = (declaration.flag, *declaration.aliases)
            if isinstance(declaration.default, bool):
                arguments.add_argument(
                    *flags,
                    dest=name,
                    action=argparse.BooleanOptionalAction,
                    default=None,
                    help=declaration.described(),
                )
            else:
                arguments.add_argument(
                    *flags,
                    dest=name,
                    type=argument_type(declaration.cast),
                    default=None,
                    metavar=declaration.metavar,
                    help=declaration.described(),
                )


def argument_type(cast: Callable[[str], Any]) -> Callable[[str], Any]:
    """``cast`` for argparse: a parser's own ValueError message (a rating scale's, say) reaches the user instead of
    argparse's "invalid value"; plain types keep argparse's message."""
    if isinstance(cast, type):
        return cast

    def convert(text: str) -> Any:
        try:
            return cast(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def settings_from(args: argparse.Namespace) -> Settings:
    """:class:`Settings` from the environment, with what the command line gave on top."""
    given = {name: getattr(args, name) for name in declarations() if getattr(args, name, None) is not None}
    try:
        return dataclasses.replace(Settings(), **given)
    except SettingsError:
        raise
    except ValueError as exc:  # a combination __post_init__ refuses
        raise SettingsError(str(exc)) from None

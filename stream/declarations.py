"""How a setting is declared: once, with its default, environment variable, command-line flag and help.

:class:`stream.settings.Settings` declares each of its fields with :func:`setting`; the environment is read through
those declarations, and the ``wnnrec`` commands make their flags and ``--help`` from them
(:func:`wnnrec.cli.arguments.add_setting_args`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

#: Command-line groups a setting's flag belongs to; each command adds the groups it needs.
KAFKA, SECURITY, WORKER, ENGINE = "Kafka", "Kafka security", "worker", "stream engine"


def flag_value(text: str) -> bool:
    """A yes/no setting from text (1, true, yes, on: yes).

    >>> flag_value("Yes"), flag_value("0")
    (True, False)
    """
    return text.strip().lower() in ("1", "true", "yes", "on")


class SettingsError(ValueError):
    """A setting's value, from its flag or its environment variable, is not one the worker can run with."""


@dataclasses.dataclass(frozen=True)
class Declaration:
    """Everything about one setting besides its name and type: the single source of its default, its environment
    variable, its command-line flag and its help (the flags and ``--help`` of the ``wnnrec`` commands are made
    from it, by :func:`wnnrec.cli.arguments.add_setting_args`).
    """

    default: Any
    help: str
    cast: Callable[[str], Any]
    env: str
    #: The command-line group (:data:`KAFKA`, :data:`SECURITY`, :data:`WORKER`, :data:`ENGINE`); None: no flag.
    group: str | None
    flag: str | None
    #: Other spellings of the flag that are still accepted (an older name, say).
    aliases: tuple[str, ...] = ()
    metavar: str | None = None
    #: A password or token: ``repr`` leaves it out (it is environment or file only, so no flag or help shows it).
    secret: bool = False

    def described(self) -> str:
        shown = next(
            (text for value, text in ((None, "none"), (False, "off"), (True, "on")) if self.default is value),
            "empty" if self.default == "" else self.default,
        )
        return f"{self.help} (default {shown}; ${self.env})"


def setting(
    name: str,
    default: Any,
    help: str,
    *,
    group: str | None,
    cast: Callable[[str], Any] | None = None,
    env: str | None = None,
    flag: str | None = "",
    aliases: tuple[str, ...] = (),
    metavar: str | None = None,
    secret: bool = False,
) -> Any:
    """A :class:`Settings` field declared once. Its default comes from ``env`` (``WNNREC_<NAME>`` unless given)
    when that is set, else ``default``; ``flag`` defaults to ``--<name-with-dashes>`` (None: environment only), and a
    yes/no setting also gets ``--no-<name-with-dashes>``."""
    if secret and flag is not None:
        raise ValueError(f"{name}: a secret is read from the environment or a file only, never from a flag")
    cast = cast or (flag_value if isinstance(default, bool) else type(default) if default is not None else str)
    declaration = Declaration(
        default=default,
        help=help,
        cast=cast,
        env=env or f"WNNREC_{name.upper()}",
        group=group if flag is not None else None,
        flag=None if flag is None else flag or "--" + name.replace("_", "-"),
        aliases=aliases,
        metavar=metavar,
        secret=secret,
    )

    def from_environment() -> Any:
        text = os.environ.get(declaration.env)
        if not text:
            return default
        try:
            return declaration.cast(text)
        except ValueError as exc:
            raise SettingsError(f"{declaration.env}={text!r}: {exc}") from None

    return dataclasses.field(default_factory=from_environment, repr=not secret, metadata={"declaration": declaration})

"""The installed distribution's version, as the worker's API and the command line report it."""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version


@functools.cache
def package_version() -> str:
    """``wnnrec``'s version (``0+unknown`` for a source tree that is not installed)."""
    try:
        return version("wnnrec")
    except PackageNotFoundError:
        return "0+unknown"

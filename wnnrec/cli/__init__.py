"""``wnnrec``: the command line (:func:`main`), one module per command."""

from wnnrec.cli.main import main

__all__ = ["main"]

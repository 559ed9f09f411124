"""Which implementation of the hot paths runs: the compiled kernels (the default) or the numpy reference.

The reference is the model as first written, kept as the specification the kernels are checked against; it is
slower, never different.

>>> from wnn.kernels import mode
>>> mode.compiled()
True
>>> with mode.reference():
...     mode.compiled()
False
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

_compiled = os.environ.get("WNNREC_REFERENCE", "") in ("", "0")


def compiled() -> bool:
    """Whether the compiled kernels run (else the numpy reference)."""
    return _compiled


@contextlib.contextmanager
def reference() -> Iterator[None]:
    """Run the numpy reference inside the block (for the properties that compare the two)."""
    global _compiled
    before, _compiled = _compiled, False
    try:
        yield
    finally:
        _compiled = before

"""A worker's local table folder across stops: kept after a clean stop, discarded after any other.

After a clean stop every table write is in the local store and in the changelog, so the next start recovers only
what came after. After a crash (kill -9, OOM, power loss) the local store can hold writes whose changelog messages
were never delivered, or miss writes the changelog has; faust's recovery then mixes the two, and the fault suite saw
47 ratings dead-lettered as "stored user state unusable" after a kill -9 restart with the same folder. The changelog
is the truth, so after any stop that was not clean the local tables are deleted and rebuilt from it, as a worker that
lost its folder does (the fault suite's state-lost case, which never showed the problem).

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "v1" / "tables" / "user-wnn-0.db").mkdir(parents=True)
    >>> discard_after_unclean_stop(folder / "v1" / "tables", folder / CLEAN_STOP_MARKER)  # no marker: not clean
    True
    >>> (folder / "v1" / "tables" / "user-wnn-0.db").mkdir(parents=True)
    >>> mark_clean_stop(folder / CLEAN_STOP_MARKER)
    >>> discard_after_unclean_stop(folder / "v1" / "tables", folder / CLEAN_STOP_MARKER)
    False
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

#: Written into the state folder when the worker stopped cleanly; consumed by the next start.
CLEAN_STOP_MARKER = "clean-stop"


def discard_after_unclean_stop(tables: Path, marker: Path) -> bool:
    """Delete the local ``tables`` folder unless ``marker`` says the last stop was clean, and consume the marker (a
    crash during this run must not find it). Returns whether tables were deleted."""
    clean = marker.exists()
    marker.unlink(missing_ok=True)
    if clean or not tables.is_dir() or not any(tables.iterdir()):
        return False
    shutil.rmtree(tables)
    return True


def mark_clean_stop(marker: Path) -> None:
    """Record that the worker stopped cleanly: its local tables and its changelogs agree."""
    marker.write_text(f"stopped cleanly at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n")

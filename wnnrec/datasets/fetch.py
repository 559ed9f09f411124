"""MovieLens-100K fetched from a package registry: the ``recbole==1.2.1`` wheel ships it as example data.

The only network route to the data is a package registry, so :func:`fetch_movielens_100k` asks pip for the wheel and
extracts the three ML-100K files from it, checked against their SHA-256.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from stream.settings import from_environment
from wnnrec.datasets.dataset import DataError

#: The pip requirement whose wheel carries ML-100K as example data.
RECBOLE_REQUIREMENT = "recbole==1.2.1"

#: Where the ML-100K atomic files live inside the RecBole wheel.
_WHEEL_FOLDER = "recbole/dataset_example/ml-100k/"

#: The files :func:`fetch_movielens_100k` extracts, with their SHA-256 in recbole 1.2.1.
ML100K_FILES: dict[str, str] = {
    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
    "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
}


FETCH_HINT = (
    "Run `wnnrec data fetch` to download MovieLens-100K there, "
    "or set WNNREC_DATA / pass --data to point at a folder holding it."
)


def default_data_dir() -> Path:
    """Return the folder that holds the fetched datasets.

    This is the ``data`` setting (``$WNNREC_DATA``) when it is set and non-empty, else ``~/.cache/wnnrec``.
    ML-100K lives in its ``ml-100k`` sub-folder.
    """
    configured = (from_environment("data") or "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "wnnrec"


def fetch_movielens_100k(dest: Path | None = None, *, progress: bool = True, force: bool = False) -> Path:
    """Download MovieLens-100K into ``dest/ml-100k`` and return that folder.

    The files come out of the ``recbole==1.2.1`` wheel, fetched from PyPI by pip (package
    registries are the only network route available). The call is idempotent: when the
    three files are already there with the expected content it returns at once, unless
    ``force`` is set. Each file is written to a temporary name and then renamed, so an
    interrupted fetch never leaves a folder that looks complete.

    Parameters
    ----------
    dest
        Parent folder; defaults to :func:`default_data_dir`.
    progress
        Show a tqdm bar while extracting, and say what is happening on stderr.
    force
        Download and extract again even when the files are already there.

    """
    dest = default_data_dir() if dest is None else Path(dest).expanduser()
    folder = dest / "ml-100k"
    if not force and _is_fetched(folder):
        return folder
    _ensure_writable(folder)  # before the download, not after it
    with tempfile.TemporaryDirectory(prefix="wnnrec-fetch-") as tmp:
        if progress:
            print(f"Downloading the {RECBOLE_REQUIREMENT} wheel from PyPI ...", file=sys.stderr)
        wheel = _pip_download(Path(tmp))
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DataError(f"Cannot create the data folder {folder}: {e}. {_WRITABLE_HINT}") from e
        _extract_ml100k(wheel, folder, progress=progress)
    return folder


_WRITABLE_HINT = "Pick a writable parent folder with `wnnrec data fetch --data DIR` (or set WNNREC_DATA)."


def _ensure_writable(folder: Path) -> None:
    """Check that ``folder`` can be created and written, without creating it (a failed download must not leave an
    empty folder behind); a :class:`DataError` naming ``--data`` if not."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise DataError(f"Cannot write to the data folder {folder}: {probe} is not a folder. {_WRITABLE_HINT}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise DataError(f"Cannot write to the data folder {folder}: {probe} is not writable. {_WRITABLE_HINT}")


def _is_fetched(folder: Path) -> bool:
    """Whether ``folder`` holds the three ML-100K files with their expected content."""
    return all(_sha256(folder / name) == digest for name, digest in ML100K_FILES.items())


def _sha256(path: Path) -> str | None:
    """SHA-256 hex digest of a file, or None when it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _pip_download(tmpdir: Path) -> Path:
    """Have pip download the RecBole wheel into ``tmpdir`` and return its path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", RECBOLE_REQUIREMENT, "-d", str(tmpdir)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        raise DataError(f"Could not run pip ({' '.join(cmd)}): {e}. Is pip installed?") from e
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-15:])
        raise DataError(
            f"pip could not download {RECBOLE_REQUIREMENT} (exit status {proc.returncode}); "
            f"MovieLens-100K is taken from that wheel. pip said:\n{tail}\n"
            "Check that PyPI (or your pip index) is reachable and retry `wnnrec data fetch`, "
            "or point --data at a folder that already holds MovieLens-100K."
        )
    wheels = sorted(tmpdir.glob("recbole-*.whl"))
    if not wheels:
        raise DataError(
            f"pip reported success but left no recbole wheel in {tmpdir} "
            f"(found: {sorted(p.name for p in tmpdir.iterdir()) or 'nothing'}). "
            "Retry `wnnrec data fetch`; if pip is set to build from source, allow wheels."
        )
    return wheels[0]


def _extract_ml100k(wheel: Path, folder: Path, *, progress: bool) -> None:
    """Extract the ML-100K files from ``wheel`` into ``folder``, atomically per file.

    All files are first written under temporary names and checked against their
    SHA-256; only then are they renamed into place.

    """
    from tqdm.auto import tqdm

    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as e:
        raise DataError(
            f"The downloaded wheel {wheel.name} is not a valid zip file: {e}. Retry `wnnrec data fetch --force`."
        ) from e
    staged: list[tuple[Path, Path]] = []
    try:
        with archive:
            members = []
            for name in ML100K_FILES:
                try:
                    members.append(archive.getinfo(_WHEEL_FOLDER + name))
                except KeyError:
                    raise DataError(
                        f"{wheel.name} has no {_WHEEL_FOLDER + name}; "
                        f"expected {RECBOLE_REQUIREMENT} to ship it. "
                        "Point --data at a folder that holds MovieLens-100K instead."
                    ) from None
            total = sum(m.file_size for m in members)
            with tqdm(total=total, unit="B", unit_scale=True, desc="Extracting ml-100k", disable=not progress) as bar:
                for member in members:
                    name = member.filename.rsplit("/", 1)[-1]
                    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
                    tmp = Path(tmp_name)
                    staged.append((tmp, folder / name))
                    os.chmod(tmp, 0o644)  # mkstemp makes it private; data files are not secret
                    digest = hashlib.sha256()
                    with os.fdopen(fd, "wb") as out, archive.open(member) as src:
                        while chunk := src.read(1 << 16):
                            out.write(chunk)
                            digest.update(chunk)
                            bar.update(len(chunk))
                        out.flush()
                        os.fsync(out.fileno())
                    if digest.hexdigest() != ML100K_FILES[name]:
                        raise DataError(
                            f"{name} from {wheel.name} does not have the expected SHA-256 "
                            f"({digest.hexdigest()} instead of {ML100K_FILES[name]}). "
                            "The download is corrupt: retry `wnnrec data fetch --force`."
                        )
        for tmp, final in staged:
            os.replace(tmp, final)
        staged.clear()
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)

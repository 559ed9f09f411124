"""MovieLens loading.

This module turns a folder of MovieLens files into a :class:`Dataset`: flat, time-ordered
numpy arrays of ``(user, item, rating, timestamp)`` with dense integer indices, plus the
item metadata (title, year, genres) that the recommender and the reports need.

Three on-disk layouts are understood, and detected automatically by :func:`load_dataset`:

1. RecBole "atomic files" (``ml-100k.inter`` + ``ml-100k.item``), which is what
   :func:`fetch_movielens_100k` puts on disk. Columns are found by their header names.
2. The official GroupLens ML-100K folder (``u.data`` + ``u.item``).
3. GroupLens ``ml-latest-small`` (``ratings.csv`` + ``movies.csv``, half-star ratings).

The only network route to the data is a package registry, so :func:`fetch_movielens_100k`
asks pip for the ``recbole==1.2.1`` wheel, which ships ML-100K as example data, and
extracts the three ML-100K files from it.

Anything wrong with a data folder (missing, partial, garbled) raises :class:`DataError`,
whose message says what is wrong and how to fix it.

This module has no Kafka or Faust imports: it is plain numpy and the standard library.

"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wnn.encoding import MOVIELENS_GENRES  # the 19 genre flags of the GroupLens u.item file, in file order
from wnn.rating_scale import HALF_STARS, WHOLE_STARS, RatingScale

__all__ = [
    "DataError",
    "Dataset",
    "default_data_dir",
    "fetch_movielens_100k",
    "load_dataset",
]

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

#: Genre labels that mean "no genre": they are dropped from ``Dataset.item_genres``.
_NO_GENRE = frozenset({"unknown", "(no genres listed)", ""})


_FETCH_HINT = (
    "Run `wnnrec data fetch` to download MovieLens-100K there, "
    "or set WNNREC_DATA / pass --data to point at a folder holding it."
)
_LAYOUTS_HINT = (
    "one of these layouts: RecBole atomic files (ml-100k.inter + ml-100k.item), "
    "GroupLens ML-100K (u.data + u.item), "
    "or GroupLens ml-latest-small (ratings.csv + movies.csv)"
)
_YEAR_IN_TITLE = re.compile(r"\s*\((\d{4})(?:\s*[-\u2013]\s*(?:\d{4})?)?\)\s*$")


class DataError(Exception):
    """A data folder is missing, partial or garbled.

    The message says what is wrong (which file, which line, what was expected) and how to
    fix it.

    """


def default_data_dir() -> Path:
    """Return the folder that holds the fetched datasets.

    This is ``$WNNREC_DATA`` when that variable is set and non-empty, else
    ``~/.cache/wnnrec``. ML-100K lives in its ``ml-100k`` sub-folder.

    """
    env = os.environ.get("WNNREC_DATA", "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "wnnrec"


# ---------------------------------------------------------------------------------------
# Fetching
# ---------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------
# The dataset
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A ratings log with dense indices, ordered by time, plus item metadata.

    Rating ``k`` is user ``users[k]`` giving ``ratings[k]`` stars to item ``items[k]`` at
    unix time ``timestamps[k]``. Ratings are sorted by timestamp; ties keep the order of the
    original file. Users are indexed ``0..n_users-1`` and items ``0..n_items-1``, both in
    the order of their raw ids (numeric order when the ids are numbers), so ML-100K user
    ``"1"`` is index 0. Items are all those of the item file plus any rated item missing
    from it (which gets an empty title, year -1 and no genres).

    Attributes
    ----------
    name
        Short dataset name, e.g. ``"ml-100k"`` or ``"ml-latest-small"``.
    users, items
        int32 dense user and item index of each rating.
    ratings
        float32 stars of each rating.
    timestamps
        int64 unix seconds of each rating, non-decreasing.
    user_ids, item_ids
        Raw id (as found in the files) of each dense user and item index.
    item_titles
        Title of each item, without the trailing ``"(1995)"`` year.
    item_years
        int32 release year of each item, -1 when unknown.
    item_genres
        Genre names of each item, e.g. ``("Action", "Comedy")``; empty when none or unknown.
    scale
        The stars the ratings take: 1-5 whole stars for ML-100K, 0.5-5 half stars for the ml-latest family, and
        for RecBole files whichever of the two holds every rating (:func:`movielens_scale`).

    """

    name: str
    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray
    user_ids: list[str]
    item_ids: list[str]
    item_titles: list[str]
    item_years: np.ndarray
    item_genres: list[tuple[str, ...]]
    scale: RatingScale = WHOLE_STARS

    def __post_init__(self) -> None:
        n = len(self.users)
        if not (len(self.items) == len(self.ratings) == len(self.timestamps) == n):
            raise ValueError("users, items, ratings and timestamps must have the same length")
        m = len(self.item_ids)
        if not (len(self.item_titles) == len(self.item_years) == len(self.item_genres) == m):
            raise ValueError("item_ids, item_titles, item_years and item_genres must have the same length")

    @property
    def n_users(self) -> int:
        """Number of distinct users."""
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        """Number of distinct items (rated or not)."""
        return len(self.item_ids)

    @property
    def n_ratings(self) -> int:
        """Number of ratings."""
        return len(self.ratings)

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, n_users={self.n_users}, n_items={self.n_items}, n_ratings={self.n_ratings})"
        )


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------


def load_dataset(path: str | Path | None = None) -> Dataset:
    """Load a MovieLens folder into a :class:`Dataset`.

    Parameters
    ----------
    path
        A folder holding one of the supported layouts (RecBole atomic files, GroupLens
        ML-100K, GroupLens ml-latest-small), or a folder holding an ``ml-100k`` (or
        ``ml-latest-small``) sub-folder. None means ``default_data_dir() / "ml-100k"``.

    Raises
    ------
    DataError
        When the folder is missing, holds no known layout, lacks a file, or has a garbled
        line.

    """
    folder = default_data_dir() / "ml-100k" if path is None else Path(path).expanduser()
    if not folder.exists():
        raise DataError(f"The MovieLens data folder {folder} does not exist. {_FETCH_HINT}")
    if not folder.is_dir():
        raise DataError(f"{folder} is a file, not a folder. Point --data at a folder holding {_LAYOUTS_HINT}.")
    layout = _detect_layout(folder)
    if layout is None:
        for sub in ("ml-100k", "ml-latest-small"):
            if (folder / sub).is_dir():
                folder = folder / sub
                layout = _detect_layout(folder)
                break
    if layout is None:
        found = sorted(p.name for p in folder.iterdir())
        shown = ", ".join(found[:12]) + (", ..." if len(found) > 12 else "") if found else "nothing"
        raise DataError(
            f"{folder} holds no MovieLens data (found: {shown}). Expected {_LAYOUTS_HINT}, "
            f"or an ml-100k sub-folder. {_FETCH_HINT}"
        )
    kind, arg = layout
    if kind == "recbole":
        return _load_recbole(folder, arg)
    if kind == "grouplens":
        return _load_grouplens(folder)
    return _load_csv(folder, arg)


def _detect_layout(folder: Path) -> tuple[str, str] | None:
    """Find which layout ``folder`` holds: ``(kind, detail)``, or None when none.

    Raises a :class:`DataError` naming the missing file when a layout is only partly
    there.

    """
    inter = sorted(p.stem for p in folder.glob("*.inter") if p.is_file())
    # GroupLens' u.item also ends in .item; it is not a RecBole file.
    items = sorted(p.stem for p in folder.glob("*.item") if p.is_file() and p.name != "u.item")
    if len(inter) > 1:
        raise DataError(
            f"{folder} holds several RecBole .inter files ({', '.join(s + '.inter' for s in inter)}); "
            "keep one dataset per folder and point --data at it."
        )
    if inter:
        stem = inter[0]
        if stem not in items:
            _missing(folder, f"{stem}.item", f"{stem}.inter", "the item metadata of the RecBole atomic files")
        return "recbole", stem
    if items:
        _missing(folder, f"{items[0]}.inter", f"{items[0]}.item", "the ratings of the RecBole atomic files")
    has_data, has_item = (folder / "u.data").is_file(), (folder / "u.item").is_file()
    if has_data or has_item:
        if not has_item:
            _missing(folder, "u.item", "u.data", "the item metadata of GroupLens ML-100K")
        if not has_data:
            _missing(folder, "u.data", "u.item", "the ratings of GroupLens ML-100K")
        return "grouplens", "ml-100k"
    has_ratings, has_movies = (folder / "ratings.csv").is_file(), (folder / "movies.csv").is_file()
    if has_ratings or has_movies:
        if not has_movies:
            _missing(folder, "movies.csv", "ratings.csv", "the item metadata of ml-latest-small")
        if not has_ratings:
            _missing(folder, "ratings.csv", "movies.csv", "the ratings of ml-latest-small")
        name = folder.name if folder.name.startswith("ml-") else "ml-latest-small"
        return "csv", name
    return None


def _missing(folder: Path, missing: str, present: str, what: str) -> None:
    """Raise the DataError for a partial folder."""
    raise DataError(
        f"{folder} is incomplete: it has {present} but not {missing} ({what}). "
        f"Copy {missing} next to {present}, or re-download with `wnnrec data fetch --force`."
    )


def _garbled(path: Path, lineno: int, problem: str) -> DataError:
    """The DataError for a bad line of a data file."""
    return DataError(
        f"{path}, line {lineno}: {problem}. The file looks damaged: re-download it with "
        "`wnnrec data fetch --force`, or point --data at an intact copy."
    )


def _read_lines(path: Path, encoding: str = "utf-8") -> list[str]:
    """All lines of a text file, with universal newlines and no line endings."""
    try:
        with open(path, encoding=encoding, newline=None) as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not valid {encoding} text ({e}). Point --data at an intact copy.") from e
    except OSError as e:
        raise DataError(f"Cannot read {path}: {e}.") from e
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _split_columns(
    path: Path,
    lines: Sequence[str],
    start: int,
    sep: str,
    n_fields: int,
    expected: str,
    quoted: bool = False,
    what: str = "fields",
) -> tuple[list[list[str]], list[int]]:
    """Parse data lines into columns, checking the field count; skip blank lines.

    pandas does the parsing; what stays here is the check and the line numbers for the error messages. Its fast C
    engine reads a missing field and an empty one alike, so a file with either is read again with the python
    engine, which tells them apart for the message. ``start`` is the 1-based line number of ``lines[0]``. Returns
    one list of strings per column and the line number of each row.
    """
    import pandas as pd

    linenos = [n for n, line in enumerate(lines, start) if line.strip()]
    if not linenos:
        return [[] for _ in range(n_fields)], linenos
    data = [lines[n - start] for n in linenos]

    def wrong_count(k: int, got: int | str) -> DataError:
        return _garbled(path, linenos[k], f"expected {n_fields} {what} ({expected}), got {got}: {data[k][:120]!r}")

    def parse(engine: str, empty_is_missing: bool) -> pd.DataFrame:
        return pd.read_csv(
            io.StringIO("\n".join(data)),
            sep=sep,
            header=None,
            names=range(n_fields),
            index_col=False,
            dtype=str,
            keep_default_na=False,
            na_values=[""] if empty_is_missing else None,
            engine=engine,
            quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE,
        )

    try:
        frame = parse("c", empty_is_missing=True)
        if frame.isna().to_numpy().any():  # a missing or an empty field somewhere: which one, and where
            frame = parse("python", empty_is_missing=False)
    except pd.errors.ParserError as e:  # a line with more fields than the first
        found = re.search(r"line (\d+), saw (\d+)", str(e))
        if found is None:
            raise _garbled(path, linenos[0], f"not readable as {expected} ({e})") from None
        raise wrong_count(int(found.group(1)) - 1, found.group(2)) from None
    short = frame.isna().to_numpy().any(axis=1)
    if short.any():
        k = int(np.flatnonzero(short)[0])
        raise wrong_count(k, int(frame.iloc[k].notna().sum()))
    if len(frame) != len(data):  # a quoted field spanning lines: the line numbers no longer match
        raise DataError(
            f"{path}: {len(frame)} rows parsed from {len(data)} lines; a quoted field spans lines. "
            "Point --data at an intact copy."
        )
    return [frame[c].tolist() for c in range(n_fields)], linenos


def movielens_scale(ratings: np.ndarray) -> RatingScale:
    """MovieLens' whole-star 1-5 scale when every rating is a whole star from 1 up, else its half-star 0.5-5.

    >>> movielens_scale(np.array([1.0, 4.0, 5.0])), movielens_scale(np.array([0.5, 4.0]))
    (RatingScale(low=1.0, high=5.0, step=1.0), RatingScale(low=0.5, high=5.0, step=0.5))
    """
    whole = bool(len(ratings)) and bool((ratings >= 1.0).all()) and bool((np.rint(ratings) == ratings).all())
    return WHOLE_STARS if whole else HALF_STARS


def _parse_ratings(
    path: Path, columns: Sequence[list[str]], linenos: Sequence[int], scale: RatingScale | None
) -> tuple[list[str], list[str], np.ndarray, np.ndarray, RatingScale]:
    """Turn the user, item, rating and timestamp columns into ids and arrays, each rating checked against the
    format's ``scale`` (None: :func:`movielens_scale` of the ratings).

    Returns raw user ids, raw item ids, float32 ratings, int64 timestamps and the scale.

    """
    col_users, col_items, col_ratings, col_stamps = columns
    if not col_users:
        raise DataError(
            f"{path} holds no ratings. Re-download it with `wnnrec data fetch --force`, "
            "or point --data at a folder with a non-empty ratings file."
        )
    users = list(map(str.strip, col_users))
    items = list(map(str.strip, col_items))
    for ids, what in ((users, "user id"), (items, "item id")):
        if "" in ids:
            raise _garbled(path, linenos[ids.index("")], f"empty {what}")
    ratings = _parse_floats(path, col_ratings, linenos, "rating")
    scale = scale or movielens_scale(ratings)
    bad = ~((ratings >= scale.low) & (ratings <= scale.high))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise _garbled(
            path, linenos[k], f"rating {col_ratings[k].strip()!r} is outside the {scale.low:g}..{scale.high:g} scale"
        )
    stamps = _parse_floats(path, col_stamps, linenos, "timestamp")
    bad = ~np.isfinite(stamps)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise _garbled(path, linenos[k], f"timestamp {col_stamps[k].strip()!r} is not a number of seconds")
    return users, items, ratings.astype(np.float32), np.floor(stamps).astype(np.int64), scale


def _parse_floats(path: Path, values: list[str], linenos: Sequence[int], what: str) -> np.ndarray:
    """Parse strings to float64; name the first bad line on failure."""
    try:
        return np.array(list(map(float, values)), dtype=np.float64)
    except ValueError:
        for k, v in enumerate(values):
            try:
                float(v)
            except ValueError:
                raise _garbled(path, linenos[k], f"{what} {v.strip()!r} is not a number") from None
        raise  # pragma: no cover - numpy and float() disagree


def _split_title_year(title: str) -> tuple[str, int]:
    """Split ``"Toy Story (1995)"`` into ``("Toy Story", 1995)``; year -1 when absent."""
    m = _YEAR_IN_TITLE.search(title)
    if m is None:
        return title.strip(), -1
    stripped = title[: m.start()].strip()
    return (stripped or title.strip()), int(m.group(1))


def _parse_year(token: str) -> int:
    """A year from a token such as ``"1995"`` or ``"01-Jan-1995"``; -1 when there is none."""
    m = re.search(r"(\d{4})\s*$", token)
    return int(m.group(1)) if m else -1


def _genres(names: Sequence[str]) -> tuple[str, ...]:
    """Genre names without the placeholders that mean "no genre"."""
    return tuple(g for g in (n.strip() for n in names) if g not in _NO_GENRE)


def _id_key(raw: str) -> tuple[int, int, str]:
    """Sort key for raw ids: numbers in numeric order, then other ids in text order."""
    return (0, int(raw), raw) if raw.isdigit() else (1, 0, raw)


ItemMeta = dict[str, tuple[str, int, tuple[str, ...]]]


def _build(
    name: str,
    raw_users: list[str],
    raw_items: list[str],
    ratings: np.ndarray,
    timestamps: np.ndarray,
    meta: ItemMeta,
    scale: RatingScale,
) -> Dataset:
    """Index raw ids densely, sort by time (stable) and assemble the :class:`Dataset`."""
    user_ids = sorted(set(raw_users), key=_id_key)
    item_ids = sorted(set(raw_items) | meta.keys(), key=_id_key)
    user_index = {u: k for k, u in enumerate(user_ids)}
    item_index = {i: k for k, i in enumerate(item_ids)}
    users = np.array(list(map(user_index.__getitem__, raw_users)), dtype=np.int32)
    items = np.array(list(map(item_index.__getitem__, raw_items)), dtype=np.int32)
    order = np.argsort(timestamps, kind="stable")
    empty: tuple[str, int, tuple[str, ...]] = ("", -1, ())
    info = [meta.get(i, empty) for i in item_ids]
    return Dataset(
        name=name,
        users=users[order],
        items=items[order],
        ratings=ratings[order],
        timestamps=timestamps[order],
        user_ids=user_ids,
        item_ids=item_ids,
        item_titles=[t for t, _, _ in info],
        item_years=np.array([y for _, y, _ in info], dtype=np.int32),
        item_genres=[g for _, _, g in info],
        scale=scale,
    )


def _check_unique(path: Path, ids: list[str], linenos: list[int]) -> None:
    """Raise when an item id appears twice in an item file."""
    seen: dict[str, int] = {}
    for raw, lineno in zip(ids, linenos):
        if raw in seen:
            raise _garbled(path, lineno, f"item id {raw!r} already appeared on line {seen[raw]}")
        seen[raw] = lineno


# --- RecBole atomic files ----------------------------------------------------------------


def _recbole_header(path: Path, lines: list[str], required: Sequence[str]) -> dict[str, int]:
    """Map the field names of a RecBole header (``name:type`` tab-separated) to columns."""
    if not lines or not lines[0].strip():
        example = "\t".join(f + ":token" for f in required)
        raise DataError(
            f"{path} is empty; expected a header line such as {example!r}. "
            "Re-download it with `wnnrec data fetch --force`."
        )
    fields = lines[0].split("\t")
    names = [f.split(":", 1)[0].strip() for f in fields]
    if any(":" not in f for f in fields) or any(r not in names for r in required):
        raise _garbled(
            path,
            1,
            f"bad header {lines[0][:200]!r}; expected tab-separated 'name:type' fields including {', '.join(required)}",
        )
    return {n: k for k, n in enumerate(names)}


_AS_IN_HEADER = "tab-separated, as in the header"


def _load_recbole(folder: Path, stem: str) -> Dataset:
    """Load RecBole atomic files ``<stem>.inter`` and ``<stem>.item``."""
    inter_path, item_path = folder / f"{stem}.inter", folder / f"{stem}.item"
    lines = _read_lines(inter_path)
    cols = _recbole_header(inter_path, lines, ("user_id", "item_id", "rating", "timestamp"))
    columns, linenos = _split_columns(inter_path, lines[1:], 2, "\t", len(cols), _AS_IN_HEADER)
    raw_users, raw_items, ratings, stamps, scale = _parse_ratings(
        inter_path, [columns[cols[c]] for c in ("user_id", "item_id", "rating", "timestamp")], linenos, None
    )

    lines = _read_lines(item_path)
    cols = _recbole_header(item_path, lines, ("item_id",))
    columns, linenos = _split_columns(item_path, lines[1:], 2, "\t", len(cols), _AS_IN_HEADER)
    rows = list(zip(*columns))
    c_id = cols["item_id"]
    c_title = next((cols[c] for c in ("movie_title", "title") if c in cols), None)
    c_year = next((cols[c] for c in ("release_year", "year") if c in cols), None)
    c_genre = next((cols[c] for c in ("class", "genre", "genres") if c in cols), None)
    meta: ItemMeta = {}
    ids = []
    for row in rows:
        title, year = _split_title_year(row[c_title]) if c_title is not None else ("", -1)
        if c_year is not None and row[c_year].strip().isdigit():
            year = int(row[c_year])
        genres = _genres(row[c_genre].split(" ")) if c_genre is not None else ()
        raw = row[c_id].strip()
        ids.append(raw)
        meta[raw] = (title, year, genres)
    _check_unique(item_path, ids, linenos)
    return _build(stem, raw_users, raw_items, ratings, stamps, meta, scale)


# --- GroupLens ML-100K -------------------------------------------------------------------


def _load_grouplens(folder: Path) -> Dataset:
    """Load the GroupLens ML-100K files ``u.data`` and ``u.item``."""
    data_path, item_path = folder / "u.data", folder / "u.item"
    columns, linenos = _split_columns(
        data_path, _read_lines(data_path), 1, "\t", 4, "tab-separated user item rating timestamp"
    )
    raw_users, raw_items, ratings, stamps, scale = _parse_ratings(data_path, columns, linenos, WHOLE_STARS)

    n_fields = 5 + len(MOVIELENS_GENRES)
    expected = "id|title|release date|video release date|url|19 genre flags"
    lines = _read_lines(item_path, "latin-1")
    columns, linenos = _split_columns(item_path, lines, 1, "|", n_fields, expected)
    rows = list(zip(*columns))
    meta: ItemMeta = {}
    ids = []
    for row, lineno in zip(rows, linenos):
        flags = row[5:]
        if any(f not in ("0", "1") for f in flags):
            raise _garbled(item_path, lineno, f"genre flags must be 0 or 1, got {'|'.join(flags)!r}")
        title, year = _split_title_year(row[1])
        date_year = _parse_year(row[2])
        raw = row[0].strip()
        ids.append(raw)
        meta[raw] = (
            title,
            date_year if date_year >= 0 else year,
            _genres([g for g, f in zip(MOVIELENS_GENRES, flags) if f == "1"]),
        )
    _check_unique(item_path, ids, linenos)
    return _build("ml-100k", raw_users, raw_items, ratings, stamps, meta, scale)


# --- GroupLens ml-latest-small -----------------------------------------------------------


def _read_csv(path: Path, required: Sequence[str]) -> tuple[dict[str, int], list[list[str]], list[int]]:
    """Read a CSV file with a header; return column indices, the columns and each row's line number."""
    lines = _read_lines(path)
    if not lines or not lines[0].strip():
        raise DataError(
            f"{path} is empty; expected a header line {','.join(required)!r}. Point --data at an intact copy."
        )
    names = [h.strip().lstrip("\ufeff") for h in next(csv.reader([lines[0]]))]
    if any(r not in names for r in required):
        raise _garbled(path, 1, f"bad header {lines[0][:200]!r}; expected columns {','.join(required)}")
    columns, linenos = _split_columns(
        path, lines[1:], 2, ",", len(names), ",".join(names), quoted=True, what="comma-separated fields"
    )
    return {n: k for k, n in enumerate(names)}, columns, linenos


def _load_csv(folder: Path, name: str) -> Dataset:
    """Load GroupLens ``ratings.csv`` and ``movies.csv`` (the ml-latest family)."""
    ratings_path, movies_path = folder / "ratings.csv", folder / "movies.csv"
    cols, columns, linenos = _read_csv(ratings_path, ("userId", "movieId", "rating", "timestamp"))
    columns = [columns[cols[c]] for c in ("userId", "movieId", "rating", "timestamp")]
    raw_users, raw_items, ratings, stamps, scale = _parse_ratings(ratings_path, columns, linenos, HALF_STARS)
    cols, columns, linenos = _read_csv(movies_path, ("movieId", "title", "genres"))
    rows = list(zip(*columns))
    c_id, c_title, c_genres = cols["movieId"], cols["title"], cols["genres"]
    meta: ItemMeta = {}
    ids = []
    for row in rows:
        title, year = _split_title_year(row[c_title])
        raw = row[c_id].strip()
        ids.append(raw)
        meta[raw] = (title, year, _genres(row[c_genres].split("|")))
    _check_unique(movies_path, ids, linenos)
    return _build(name, raw_users, raw_items, ratings, stamps, meta, scale)

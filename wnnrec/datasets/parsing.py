"""Reading MovieLens files line by line: columns split and checked, ratings, years, genres and ids parsed, each
mistake a :class:`~wnnrec.datasets.dataset.DataError` that names the file, the line and what was expected."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wnn.rating_scale import HALF_STARS, WHOLE_STARS, RatingScale
from wnnrec.datasets.dataset import DataError

#: Genre labels that mean "no genre": they are dropped from ``Dataset.item_genres``.
NO_GENRE = frozenset({"unknown", "(no genres listed)", ""})

YEAR_IN_TITLE = re.compile(r"\s*\((\d{4})(?:\s*[-\u2013]\s*(?:\d{4})?)?\)\s*$")


def garbled(path: Path, lineno: int, problem: str) -> DataError:
    """The DataError for a bad line of a data file."""
    return DataError(
        f"{path}, line {lineno}: {problem}. The file looks damaged: re-download it with "
        "`wnnrec data fetch --force`, or point --data at an intact copy."
    )


def read_lines(path: Path, encoding: str = "utf-8") -> list[str]:
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


def split_columns(
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
        return garbled(path, linenos[k], f"expected {n_fields} {what} ({expected}), got {got}: {data[k][:120]!r}")

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
            raise garbled(path, linenos[0], f"not readable as {expected} ({e})") from None
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


def parse_ratings(
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
            raise garbled(path, linenos[ids.index("")], f"empty {what}")
    ratings = parse_floats(path, col_ratings, linenos, "rating")
    scale = scale or movielens_scale(ratings)
    bad = ~((ratings >= scale.low) & (ratings <= scale.high))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise garbled(
            path, linenos[k], f"rating {col_ratings[k].strip()!r} is outside the {scale.low:g}..{scale.high:g} scale"
        )
    stamps = parse_floats(path, col_stamps, linenos, "timestamp")
    bad = ~np.isfinite(stamps)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise garbled(path, linenos[k], f"timestamp {col_stamps[k].strip()!r} is not a number of seconds")
    return users, items, ratings.astype(np.float32), np.floor(stamps).astype(np.int64), scale


def parse_floats(path: Path, values: list[str], linenos: Sequence[int], what: str) -> np.ndarray:
    """Parse strings to float64; name the first bad line on failure."""
    try:
        return np.array(list(map(float, values)), dtype=np.float64)
    except ValueError:
        for k, v in enumerate(values):
            try:
                float(v)
            except ValueError:
                raise garbled(path, linenos[k], f"{what} {v.strip()!r} is not a number") from None
        raise  # pragma: no cover - numpy and float() disagree


def split_title_year(title: str) -> tuple[str, int]:
    """Split ``"Toy Story (1995)"`` into ``("Toy Story", 1995)``; year -1 when absent."""
    m = YEAR_IN_TITLE.search(title)
    if m is None:
        return title.strip(), -1
    stripped = title[: m.start()].strip()
    return (stripped or title.strip()), int(m.group(1))


def parse_year(token: str) -> int:
    """A year from a token such as ``"1995"`` or ``"01-Jan-1995"``; -1 when there is none."""
    m = re.search(r"(\d{4})\s*$", token)
    return int(m.group(1)) if m else -1


def genres_of(names: Sequence[str]) -> tuple[str, ...]:
    """Genre names without the placeholders that mean "no genre"."""
    return tuple(g for g in (n.strip() for n in names) if g not in NO_GENRE)


def id_key(raw: str) -> tuple[int, int, str]:
    """Sort key for raw ids: numbers in numeric order, then other ids in text order."""
    return (0, int(raw), raw) if raw.isdigit() else (1, 0, raw)


def check_unique(path: Path, ids: list[str], linenos: list[int]) -> None:
    """Raise when an item id appears twice in an item file."""
    seen: dict[str, int] = {}
    for raw, lineno in zip(ids, linenos):
        if raw in seen:
            raise garbled(path, lineno, f"item id {raw!r} already appeared on line {seen[raw]}")
        seen[raw] = lineno


def recbole_header(path: Path, lines: list[str], required: Sequence[str]) -> dict[str, int]:
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
        raise garbled(
            path,
            1,
            f"bad header {lines[0][:200]!r}; expected tab-separated 'name:type' fields including {', '.join(required)}",
        )
    return {n: k for k, n in enumerate(names)}


def read_csv(path: Path, required: Sequence[str]) -> tuple[dict[str, int], list[list[str]], list[int]]:
    """Read a CSV file with a header; return column indices, the columns and each row's line number."""
    lines = read_lines(path)
    if not lines or not lines[0].strip():
        raise DataError(
            f"{path} is empty; expected a header line {','.join(required)!r}. Point --data at an intact copy."
        )
    names = [h.strip().lstrip("\ufeff") for h in next(csv.reader([lines[0]]))]
    if any(r not in names for r in required):
        raise garbled(path, 1, f"bad header {lines[0][:200]!r}; expected columns {','.join(required)}")
    columns, linenos = split_columns(
        path, lines[1:], 2, ",", len(names), ",".join(names), quoted=True, what="comma-separated fields"
    )
    return {n: k for k, n in enumerate(names)}, columns, linenos

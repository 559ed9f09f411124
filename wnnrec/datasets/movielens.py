"""MovieLens folders read into a :class:`~wnnrec.datasets.dataset.Dataset`, their layout detected.

Three on-disk layouts are understood, and detected automatically by :func:`load_dataset`:

1. RecBole "atomic files" (``ml-100k.inter`` + ``ml-100k.item``), which is what
   :func:`~wnnrec.datasets.fetch.fetch_movielens_100k` puts on disk. Columns are found by their header names.
2. The official GroupLens ML-100K folder (``u.data`` + ``u.item``).
3. GroupLens ``ml-latest-small`` (``ratings.csv`` + ``movies.csv``, half-star ratings).

Anything wrong with a data folder (missing, partial, garbled) raises :class:`DataError`, whose message says what is
wrong and how to fix it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wnn.encoding import MOVIELENS_GENRES  # the 19 genre flags of the GroupLens u.item file, in file order
from wnn.rating_scale import HALF_STARS, WHOLE_STARS, RatingScale
from wnnrec.datasets.dataset import DataError, Dataset
from wnnrec.datasets.fetch import FETCH_HINT, default_data_dir
from wnnrec.datasets.parsing import (
    check_unique,
    garbled,
    genres_of,
    id_key,
    parse_ratings,
    parse_year,
    read_csv,
    read_lines,
    recbole_header,
    split_columns,
    split_title_year,
)

_LAYOUTS_HINT = (
    "one of these layouts: RecBole atomic files (ml-100k.inter + ml-100k.item), "
    "GroupLens ML-100K (u.data + u.item), "
    "or GroupLens ml-latest-small (ratings.csv + movies.csv)"
)


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
        raise DataError(f"The MovieLens data folder {folder} does not exist. {FETCH_HINT}")
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
            f"or an ml-100k sub-folder. {FETCH_HINT}"
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
    user_ids = sorted(set(raw_users), key=id_key)
    item_ids = sorted(set(raw_items) | meta.keys(), key=id_key)
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


_AS_IN_HEADER = "tab-separated, as in the header"


def _load_recbole(folder: Path, stem: str) -> Dataset:
    """Load RecBole atomic files ``<stem>.inter`` and ``<stem>.item``."""
    inter_path, item_path = folder / f"{stem}.inter", folder / f"{stem}.item"
    lines = read_lines(inter_path)
    cols = recbole_header(inter_path, lines, ("user_id", "item_id", "rating", "timestamp"))
    columns, linenos = split_columns(inter_path, lines[1:], 2, "\t", len(cols), _AS_IN_HEADER)
    raw_users, raw_items, ratings, stamps, scale = parse_ratings(
        inter_path, [columns[cols[c]] for c in ("user_id", "item_id", "rating", "timestamp")], linenos, None
    )

    lines = read_lines(item_path)
    cols = recbole_header(item_path, lines, ("item_id",))
    columns, linenos = split_columns(item_path, lines[1:], 2, "\t", len(cols), _AS_IN_HEADER)
    rows = list(zip(*columns))
    c_id = cols["item_id"]
    c_title = next((cols[c] for c in ("movie_title", "title") if c in cols), None)
    c_year = next((cols[c] for c in ("release_year", "year") if c in cols), None)
    c_genre = next((cols[c] for c in ("class", "genre", "genres") if c in cols), None)
    meta: ItemMeta = {}
    ids = []
    for row in rows:
        title, year = split_title_year(row[c_title]) if c_title is not None else ("", -1)
        if c_year is not None and row[c_year].strip().isdigit():
            year = int(row[c_year])
        genres = genres_of(row[c_genre].split(" ")) if c_genre is not None else ()
        raw = row[c_id].strip()
        ids.append(raw)
        meta[raw] = (title, year, genres)
    check_unique(item_path, ids, linenos)
    return _build(stem, raw_users, raw_items, ratings, stamps, meta, scale)


def _load_grouplens(folder: Path) -> Dataset:
    """Load the GroupLens ML-100K files ``u.data`` and ``u.item``."""
    data_path, item_path = folder / "u.data", folder / "u.item"
    columns, linenos = split_columns(
        data_path, read_lines(data_path), 1, "\t", 4, "tab-separated user item rating timestamp"
    )
    raw_users, raw_items, ratings, stamps, scale = parse_ratings(data_path, columns, linenos, WHOLE_STARS)

    n_fields = 5 + len(MOVIELENS_GENRES)
    expected = "id|title|release date|video release date|url|19 genre flags"
    lines = read_lines(item_path, "latin-1")
    columns, linenos = split_columns(item_path, lines, 1, "|", n_fields, expected)
    rows = list(zip(*columns))
    meta: ItemMeta = {}
    ids = []
    for row, lineno in zip(rows, linenos):
        flags = row[5:]
        if any(f not in ("0", "1") for f in flags):
            raise garbled(item_path, lineno, f"genre flags must be 0 or 1, got {'|'.join(flags)!r}")
        title, year = split_title_year(row[1])
        date_year = parse_year(row[2])
        raw = row[0].strip()
        ids.append(raw)
        meta[raw] = (
            title,
            date_year if date_year >= 0 else year,
            genres_of([g for g, f in zip(MOVIELENS_GENRES, flags) if f == "1"]),
        )
    check_unique(item_path, ids, linenos)
    return _build("ml-100k", raw_users, raw_items, ratings, stamps, meta, scale)


def _load_csv(folder: Path, name: str) -> Dataset:
    """Load GroupLens ``ratings.csv`` and ``movies.csv`` (the ml-latest family)."""
    ratings_path, movies_path = folder / "ratings.csv", folder / "movies.csv"
    cols, columns, linenos = read_csv(ratings_path, ("userId", "movieId", "rating", "timestamp"))
    columns = [columns[cols[c]] for c in ("userId", "movieId", "rating", "timestamp")]
    raw_users, raw_items, ratings, stamps, scale = parse_ratings(ratings_path, columns, linenos, HALF_STARS)
    cols, columns, linenos = read_csv(movies_path, ("movieId", "title", "genres"))
    rows = list(zip(*columns))
    c_id, c_title, c_genres = cols["movieId"], cols["title"], cols["genres"]
    meta: ItemMeta = {}
    ids = []
    for row in rows:
        title, year = split_title_year(row[c_title])
        raw = row[c_id].strip()
        ids.append(raw)
        meta[raw] = (title, year, genres_of(row[c_genres].split("|")))
    check_unique(movies_path, ids, linenos)
    return _build(name, raw_users, raw_items, ratings, stamps, meta, scale)

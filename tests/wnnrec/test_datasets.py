"""Tests for wnnrec.datasets: MovieLens layouts, their errors, and the RecBole-wheel fetch."""

from __future__ import annotations

import hashlib
import subprocess
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wnn.encoding import MOVIELENS_GENRES
from wnn.rating_scale import HALF_STARS, WHOLE_STARS
from wnnrec.datasets import DataError, Dataset, default_data_dir, fetch, fetch_movielens_100k, load_dataset

# ---------------------------------------------------------------------------------------
# Fixture writers
# ---------------------------------------------------------------------------------------

INTER_HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float"
ITEM_HEADER = "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def recbole_folder(root: Path, inter_rows: list[str] | None = None) -> Path:
    """A small RecBole ml-100k folder. Ties at t=100 must keep file order."""
    folder = root / "ml-100k"
    rows = inter_rows or [
        "10\t2\t4\t300",
        "2\t1\t5\t100",
        "1\t3\t3\t100",
        "2\t99\t1\t100",  # item 99 is rated but absent from the item file
        "1\t1\t2\t50",
    ]
    write(folder / "ml-100k.inter", "\n".join([INTER_HEADER, *rows]) + "\n")
    write(
        folder / "ml-100k.item",
        "\n".join(
            [
                ITEM_HEADER,
                "1\tToy Story\t1995\tAnimation Children's Comedy",
                "2\tGoldenEye\t1995\tAction Adventure Thriller",
                "3\tLand Before Time III (1995)\tV\tAnimation",
                "4\tunkonwn\tunkonwn\tunknown",  # never rated; RecBole's own spelling
            ]
        )
        + "\n",
    )
    return folder


def u_item_line(item: int, title: str, date: str, genres: set[str]) -> str:
    flags = "|".join("1" if g in genres else "0" for g in MOVIELENS_GENRES)
    return f"{item}|{title}|{date}||http://example.org/{item}|{flags}"


def grouplens_folder(root: Path) -> Path:
    folder = root / "grouplens"
    write(folder / "u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t5\t881250949\n")
    write(
        folder / "u.item",
        "\n".join(
            [
                u_item_line(242, "Kolya (1996)", "24-Jan-1997", {"Comedy"}),
                u_item_line(
                    302, "L.A. Confidential (1997)", "01-Jan-1997", {"Crime", "Film-Noir", "Mystery", "Thriller"}
                ),
                u_item_line(267, "unknown", "", {"unknown"}),
                u_item_line(1000, "Café au lait (1993)", "", {"Comedy"}),
            ]
        )
        + "\n",
        encoding="latin-1",
    )
    return folder


def csv_folder(root: Path) -> Path:
    folder = root / "ml-latest-small"
    write(
        folder / "ratings.csv",
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n2,1,0.5,964982224\n3,6,3.5,964981247\n",
    )
    write(
        folder / "movies.csv",
        "movieId,title,genres\n"
        "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
        '3,"American President, The (1995)",Comedy|Drama|Romance\n'
        "6,Some Documentary,(no genres listed)\n"
        "7,Fawlty Towers (1975-1979),Comedy\n",
    )
    return folder


# ---------------------------------------------------------------------------------------
# default_data_dir
# ---------------------------------------------------------------------------------------


def test_default_data_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("WNNREC_DATA", str(tmp_path / "here"))
    assert default_data_dir() == tmp_path / "here"


def test_default_data_dir_home(monkeypatch, tmp_path):
    monkeypatch.delenv("WNNREC_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / ".cache" / "wnnrec"


# ---------------------------------------------------------------------------------------
# Layouts
# ---------------------------------------------------------------------------------------


def test_recbole_layout(tmp_path):
    ds = load_dataset(recbole_folder(tmp_path))
    assert isinstance(ds, Dataset)
    assert ds.name == "ml-100k"
    # Dense ids follow numeric order of the raw ids ("10" after "2").
    assert ds.user_ids == ["1", "2", "10"]
    assert ds.item_ids == ["1", "2", "3", "4", "99"]
    assert (ds.n_users, ds.n_items, ds.n_ratings) == (3, 5, 5)
    assert ds.users.dtype == np.int32 and ds.items.dtype == np.int32
    assert ds.ratings.dtype == np.float32 and ds.timestamps.dtype == np.int64
    # Sorted by time; the three ratings at t=100 keep their file order.
    assert ds.timestamps.tolist() == [50, 100, 100, 100, 300]
    raw = [(ds.user_ids[u], ds.item_ids[i], float(r)) for u, i, r in zip(ds.users, ds.items, ds.ratings)]
    assert raw == [("1", "1", 2.0), ("2", "1", 5.0), ("1", "3", 3.0), ("2", "99", 1.0), ("10", "2", 4.0)]
    # Metadata.
    assert ds.item_titles == ["Toy Story", "GoldenEye", "Land Before Time III", "unkonwn", ""]
    assert ds.item_years.tolist() == [1995, 1995, 1995, -1, -1]
    assert ds.item_genres == [
        ("Animation", "Children's", "Comedy"),
        ("Action", "Adventure", "Thriller"),
        ("Animation",),
        (),
        (),
    ]
    assert "n_ratings=5" in repr(ds)
    assert ds.scale == WHOLE_STARS  # every rating a whole star from 1


def test_recbole_columns_by_header_name(tmp_path):
    folder = tmp_path / "shuffled"
    header = "timestamp:float\trating:float\titem_id:token\tuser_id:token"
    write(folder / "ml-100k.inter", header + "\n7\t4\t5\t9\n")
    write(folder / "ml-100k.item", "class:token_seq\titem_id:token\nDrama\t5\n")
    ds = load_dataset(folder)
    assert ds.user_ids == ["9"] and ds.item_ids == ["5"]
    assert ds.ratings.tolist() == [4.0] and ds.timestamps.tolist() == [7]
    assert ds.item_genres == [("Drama",)] and ds.item_titles == [""] and ds.item_years.tolist() == [-1]


def test_grouplens_layout(tmp_path):
    ds = load_dataset(grouplens_folder(tmp_path))
    assert ds.name == "ml-100k"
    assert ds.user_ids == ["186", "196"]
    assert ds.item_ids == ["242", "267", "302", "1000"]
    assert ds.timestamps.tolist() == [881250949, 881250949, 891717742]
    # Tie at 881250949: file order (242 before 302).
    assert [ds.item_ids[i] for i in ds.items] == ["242", "302", "302"]
    assert ds.ratings.tolist() == [3.0, 5.0, 3.0]
    k = ds.item_ids.index
    assert ds.item_titles[k("302")] == "L.A. Confidential"
    assert ds.item_years[k("242")] == 1997  # from the release date, not the title
    assert ds.item_years[k("267")] == -1
    assert ds.item_years[k("1000")] == 1993  # no date: from the title
    assert ds.item_titles[k("1000")] == "Café au lait"  # latin-1 decoded
    assert ds.item_genres[k("302")] == ("Crime", "Film-Noir", "Mystery", "Thriller")
    assert ds.item_genres[k("267")] == ()
    assert ds.scale == WHOLE_STARS


def test_a_half_star_in_ml_100k_is_outside_its_scale(tmp_path):
    folder = grouplens_folder(tmp_path)
    write(folder / "u.data", "196\t242\t3\t881250949\n186\t302\t0.5\t891717742\n")
    with pytest.raises(DataError, match=r"u.data, line 2: rating '0.5' is outside the 1..5 scale"):
        load_dataset(folder)


def test_csv_layout(tmp_path):
    ds = load_dataset(csv_folder(tmp_path))
    assert ds.name == "ml-latest-small"
    assert ds.user_ids == ["1", "2", "3"]
    assert ds.item_ids == ["1", "3", "6", "7"]
    # Tie at 964981247: file order (user 1 before user 3).
    assert ds.timestamps.tolist() == [964981247, 964981247, 964982224, 964982703]
    assert [ds.user_ids[u] for u in ds.users] == ["1", "3", "2", "1"]
    assert ds.ratings.tolist() == [4.5, 3.5, 0.5, 4.0]
    assert ds.scale == HALF_STARS
    assert ds.item_titles == ["Toy Story", "American President, The", "Some Documentary", "Fawlty Towers"]
    assert ds.item_years.tolist() == [1995, 1995, -1, 1975]
    assert ds.item_genres[0] == ("Adventure", "Animation", "Children", "Comedy", "Fantasy")
    assert ds.item_genres[2] == ()


def test_parent_folder_and_default_path(tmp_path, monkeypatch):
    recbole_folder(tmp_path)
    assert load_dataset(tmp_path).n_ratings == 5
    assert load_dataset(str(tmp_path)).n_ratings == 5
    monkeypatch.setenv("WNNREC_DATA", str(tmp_path))
    assert load_dataset().n_ratings == 5


def test_blank_lines_and_crlf_are_tolerated(tmp_path):
    folder = tmp_path / "g"
    write(folder / "u.data", "1\t1\t3\t5\r\n\r\n2\t1\t4\t6\r\n")
    write(folder / "u.item", u_item_line(1, "A (2000)", "", {"Drama"}) + "\r\n")
    ds = load_dataset(folder)
    assert ds.n_ratings == 2 and ds.item_years.tolist() == [2000]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 5), st.integers(1, 4), st.integers(1, 5), st.integers(0, 3)), min_size=1, max_size=40
    )
)
def test_sort_is_stable_by_time(tmp_path_factory, rows):
    folder = tmp_path_factory.mktemp("prop")
    write(folder / "u.data", "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows))
    write(folder / "u.item", "".join(u_item_line(i, f"M{i}", "", set()) + "\n" for i in range(1, 5)))
    ds = load_dataset(folder)
    expected = sorted(rows, key=lambda row: row[3])  # sorted() is stable
    got = [
        (int(ds.user_ids[u]), int(ds.item_ids[i]), int(r), int(t))
        for u, i, r, t in zip(ds.users, ds.items, ds.ratings, ds.timestamps)
    ]
    assert got == expected
    assert ds.user_ids == [str(u) for u in sorted({row[0] for row in rows})]
    assert ds.n_items == 4


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist") as e:
        load_dataset(tmp_path / "nope")
    assert "wnnrec data fetch" in str(e.value) and "WNNREC_DATA" in str(e.value)


def test_missing_default_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("WNNREC_DATA", str(tmp_path / "empty"))
    with pytest.raises(DataError, match="wnnrec data fetch"):
        load_dataset()


def test_path_is_a_file(tmp_path):
    with pytest.raises(DataError, match="is a file"):
        load_dataset(write(tmp_path / "u.data", "1\t1\t1\t1\n"))


def test_folder_without_layout(tmp_path):
    write(tmp_path / "README.txt", "hello")
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path)
    msg = str(e.value)
    for name in ("README.txt", "ml-100k.inter", "u.data", "ratings.csv", "wnnrec data fetch"):
        assert name in msg


@pytest.mark.parametrize(
    "present, missing",
    [
        ("ml-100k.inter", "ml-100k.item"),
        ("ml-100k.item", "ml-100k.inter"),
        ("u.data", "u.item"),
        ("u.item", "u.data"),
        ("ratings.csv", "movies.csv"),
        ("movies.csv", "ratings.csv"),
    ],
)
def test_partial_folder(tmp_path, present, missing):
    write(tmp_path / present, "x\n")
    with pytest.raises(DataError, match="incomplete") as e:
        load_dataset(tmp_path)
    assert f"not {missing}" in str(e.value)


def test_several_inter_files(tmp_path):
    recbole_folder(tmp_path)
    write(tmp_path / "ml-100k" / "other.inter", INTER_HEADER + "\n")
    with pytest.raises(DataError, match="several"):
        load_dataset(tmp_path / "ml-100k")


@pytest.mark.parametrize(
    "row, line, needle",
    [
        ("1\t1\t3", 4, "expected 4 fields"),
        ("1\t1\tgood\t5", 4, "rating 'good' is not a number"),
        ("1\t1\t7\t5", 4, "outside the 1..5 scale"),
        ("1\t1\t0\t5", 4, "outside the 0.5..5 scale"),
        ("1\t1\tnan\t5", 4, "outside the 0.5..5 scale"),
        ("1\t1\t3\tyesterday", 4, "timestamp 'yesterday' is not a number"),
        ("1\t1\t3\tinf", 4, "timestamp 'inf'"),
        ("\t1\t3\t5", 4, "empty user id"),
    ],
)
def test_garbled_recbole_line(tmp_path, row, line, needle):
    folder = recbole_folder(tmp_path, ["1\t1\t3\t5", "2\t1\t3\t5", row, "3\t1\t3\t5"])
    with pytest.raises(DataError) as e:
        load_dataset(folder)
    msg = str(e.value)
    assert f"ml-100k.inter, line {line}:" in msg
    assert needle in msg
    assert "wnnrec data fetch --force" in msg


def test_garbled_line_after_blank_line_keeps_file_line_number(tmp_path):
    folder = tmp_path / "g"
    write(folder / "u.data", "1\t1\t3\t5\n\n\n1\t2\tx\t5\n")
    write(folder / "u.item", u_item_line(1, "A", "", set()) + "\n")
    with pytest.raises(DataError, match=r"u\.data, line 4: rating 'x'"):
        load_dataset(folder)


def test_bad_recbole_header(tmp_path):
    folder = tmp_path / "r"
    write(folder / "ml-100k.inter", "user\titem\trating\ttimestamp\n1\t1\t3\t5\n")
    write(folder / "ml-100k.item", ITEM_HEADER + "\n")
    with pytest.raises(DataError, match=r"ml-100k\.inter, line 1: bad header"):
        load_dataset(folder)


def test_recbole_header_missing_column(tmp_path):
    folder = tmp_path / "r"
    write(folder / "ml-100k.inter", "user_id:token\titem_id:token\trating:float\n1\t1\t3\n")
    write(folder / "ml-100k.item", ITEM_HEADER + "\n")
    with pytest.raises(DataError, match="timestamp"):
        load_dataset(folder)


@pytest.mark.parametrize("content", ["", INTER_HEADER + "\n", INTER_HEADER + "\n\n\n"])
def test_empty_recbole_ratings(tmp_path, content):
    folder = tmp_path / "r"
    write(folder / "ml-100k.inter", content)
    write(folder / "ml-100k.item", ITEM_HEADER + "\n")
    with pytest.raises(DataError, match=r"empty|no ratings"):
        load_dataset(folder)


def test_empty_u_data(tmp_path):
    folder = grouplens_folder(tmp_path)
    write(folder / "u.data", "")
    with pytest.raises(DataError, match="no ratings"):
        load_dataset(folder)


def test_garbled_u_item(tmp_path):
    folder = grouplens_folder(tmp_path)
    lines = (folder / "u.item").read_text("latin-1").splitlines()
    lines[1] = lines[1].replace("|0|", "|2|", 1)
    write(folder / "u.item", "\n".join(lines) + "\n", "latin-1")
    with pytest.raises(DataError, match=r"u\.item, line 2: genre flags"):
        load_dataset(folder)
    lines[1] = "302|too few"
    write(folder / "u.item", "\n".join(lines) + "\n", "latin-1")
    with pytest.raises(DataError, match=r"u\.item, line 2: expected 24 fields"):
        load_dataset(folder)


def test_duplicate_item_id(tmp_path):
    folder = grouplens_folder(tmp_path)
    write(folder / "u.item", u_item_line(1, "A", "", set()) + "\n" + u_item_line(1, "B", "", set()) + "\n")
    with pytest.raises(DataError, match=r"u\.item, line 2: item id '1' already appeared on line 1"):
        load_dataset(folder)


def test_garbled_csv(tmp_path):
    folder = csv_folder(tmp_path)
    write(folder / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,5\n1,1,4.0\n")
    with pytest.raises(DataError, match=r"ratings\.csv, line 3: expected 4 comma-separated fields"):
        load_dataset(folder)
    write(folder / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,5\n1,1,5.5,6\n")
    with pytest.raises(DataError, match=r"ratings\.csv, line 3: rating '5.5' is outside"):
        load_dataset(folder)
    write(folder / "ratings.csv", "user,movie,stars,when\n1,1,4.0,5\n")
    with pytest.raises(DataError, match=r"ratings\.csv, line 1: bad header"):
        load_dataset(folder)
    write(folder / "ratings.csv", "userId,movieId,rating,timestamp\n")
    with pytest.raises(DataError, match="no ratings"):
        load_dataset(folder)
    write(folder / "ratings.csv", "")
    with pytest.raises(DataError, match="empty"):
        load_dataset(folder)


# ---------------------------------------------------------------------------------------
# Fetch (with a fake pip, so no network)
# ---------------------------------------------------------------------------------------


FAKE_FILES = {
    "ml-100k.inter": (INTER_HEADER + "\n1\t1\t3\t10\n2\t1\t4\t5\n").encode(),
    "ml-100k.item": (ITEM_HEADER + "\n1\tToy Story\t1995\tAnimation\n").encode(),
    "ml-100k.user": b"user_id:token\tage:token\n1\t24\n2\t53\n",
}


@pytest.fixture
def fake_pip(monkeypatch):
    """Replace pip with a fake that writes a small recbole wheel; count its calls."""
    monkeypatch.setattr(
        fetch, "ML100K_FILES", {name: hashlib.sha256(blob).hexdigest() for name, blob in FAKE_FILES.items()}
    )
    calls = []
    files = dict(FAKE_FILES)

    def run(cmd, **kwargs):
        calls.append(cmd)
        assert cmd[1:6] == ["-m", "pip", "download", "--no-deps", "recbole==1.2.1"]
        target = Path(cmd[cmd.index("-d") + 1])
        with zipfile.ZipFile(target / "recbole-1.2.1-py3-none-any.whl", "w") as wheel:
            wheel.writestr("recbole/__init__.py", "")
            for name, blob in files.items():
                wheel.writestr(f"recbole/dataset_example/ml-100k/{name}", blob)
        return subprocess.CompletedProcess(cmd, 0, "Saved\n", "")

    monkeypatch.setattr(fetch.subprocess, "run", run)
    return calls, files


def test_fetch_extracts_and_is_idempotent(tmp_path, fake_pip, monkeypatch):
    calls, _ = fake_pip
    folder = fetch_movielens_100k(tmp_path, progress=False)
    assert folder == tmp_path / "ml-100k"
    assert sorted(p.name for p in folder.iterdir()) == sorted(FAKE_FILES)
    assert all((folder / n).read_bytes() == b for n, b in FAKE_FILES.items())
    assert len(calls) == 1
    ds = load_dataset(folder)
    assert ds.n_ratings == 2 and ds.timestamps.tolist() == [5, 10]

    def no_pip(*args, **kwargs):
        raise AssertionError("pip must not run when the data is already there")

    monkeypatch.setattr(fetch.subprocess, "run", no_pip)
    start = time.perf_counter()
    assert fetch_movielens_100k(tmp_path, progress=False) == folder
    assert time.perf_counter() - start < 0.5


def test_fetch_force_and_repair(tmp_path, fake_pip):
    calls, _ = fake_pip
    folder = fetch_movielens_100k(tmp_path, progress=False)
    fetch_movielens_100k(tmp_path, progress=False, force=True)
    assert len(calls) == 2
    # A damaged file is not "valid": the next fetch repairs it.
    (folder / "ml-100k.item").write_text("garbage")
    fetch_movielens_100k(tmp_path, progress=False)
    assert len(calls) == 3
    assert (folder / "ml-100k.item").read_bytes() == FAKE_FILES["ml-100k.item"]


def test_fetch_default_dest(tmp_path, fake_pip, monkeypatch):
    monkeypatch.setenv("WNNREC_DATA", str(tmp_path / "cache"))
    assert fetch_movielens_100k(progress=False) == tmp_path / "cache" / "ml-100k"
    assert load_dataset().n_ratings == 2


def test_fetch_pip_failure(tmp_path, monkeypatch):
    def failing(cmd, **kwargs):
        stderr = "Looking in indexes...\nERROR: No matching distribution found for recbole==1.2.1\n"
        return subprocess.CompletedProcess(cmd, 1, "", stderr)

    monkeypatch.setattr(fetch.subprocess, "run", failing)
    with pytest.raises(DataError, match="No matching distribution") as e:
        fetch_movielens_100k(tmp_path, progress=False)
    assert "exit status 1" in str(e.value)
    assert not (tmp_path / "ml-100k").exists()


def test_empty_ml100k_subfolder_is_reported(tmp_path):
    (tmp_path / "ml-100k").mkdir()
    with pytest.raises(DataError, match=r"ml-100k holds no MovieLens data \(found: nothing\)"):
        load_dataset(tmp_path)


def test_fetch_corrupt_wheel_leaves_nothing_that_looks_valid(tmp_path, fake_pip):
    _, files = fake_pip
    files["ml-100k.user"] = b"tampered"
    with pytest.raises(DataError, match="SHA-256"):
        fetch_movielens_100k(tmp_path, progress=False)
    assert list((tmp_path / "ml-100k").iterdir()) == []  # no final files, no .part leftovers


def test_fetch_wheel_without_data(tmp_path, fake_pip):
    _, files = fake_pip
    del files["ml-100k.item"]
    with pytest.raises(DataError, match=r"has no recbole/dataset_example/ml-100k/ml-100k\.item"):
        fetch_movielens_100k(tmp_path, progress=False)
    assert list((tmp_path / "ml-100k").iterdir()) == []


# ---------------------------------------------------------------------------------------
# The real MovieLens-100K
# ---------------------------------------------------------------------------------------


@pytest.mark.data
def test_real_movielens_100k():
    folder = default_data_dir() / "ml-100k"
    if not fetch._is_fetched(folder):
        fetch_movielens_100k(progress=False)
    start = time.perf_counter()
    ds = load_dataset()
    elapsed = time.perf_counter() - start
    assert ds.name == "ml-100k"
    assert ds.n_ratings == 100_000
    assert ds.n_users == 943
    assert ds.n_items == 1_682
    assert ds.user_ids[0] == "1" and ds.item_ids[-1] == "1682"
    assert ds.ratings.min() == 1 and ds.ratings.max() == 5
    assert set(np.unique(ds.ratings).tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert np.all(np.diff(ds.timestamps) >= 0)
    assert ds.users.min() == 0 and ds.users.max() == 942
    assert ds.items.min() == 0 and ds.items.max() == 1681
    assert ds.item_titles[0] == "Toy Story" and ds.item_years[0] == 1995
    assert ds.item_genres[0] == ("Animation", "Children's", "Comedy")
    assert elapsed < 1.0

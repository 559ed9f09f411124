"""The numbers in the docs' results tables are the ones in the ``results/*.json`` they cite.

A table's numbers cite their file with a comment before the table, and each number its value in it with a comment
after the number, which Markdown does not show::

    <!-- numbers: results/bench_model.json -->
    | measure | value |
    |---|---|
    | learn + predict, µs a rating | 24.0 <!-- learn_predict_us --> |
    | MAE, WNN | 0.7364 <!-- results[model=wnn].mae --> |
    | identical bytes | 100% <!-- identical_bytes_share *100 --> |

A path walks the JSON document: ``a.b`` a key, ``a[2]`` a list position, ``a[model=wnn,n_ratings=5]`` the element
of a list whose fields have those values; ``*100`` (or any factor) scales the value before the comparison. The
shown number must equal the value rounded to as many decimals as it shows. In a table that cites a file, every cell
that is only a number must cite its value.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

CITES_FILE = re.compile(r"<!--\s*numbers:\s*(\S+)\s*-->")
CITED_NUMBER = re.compile(r"(-?[\d,]*\.?\d+)\s*(%|×|x)?\s*<!--\s*([^\s*]+)(?:\s*\*\s*([\d.]+))?\s*-->")
BARE_NUMBER = re.compile(r"^\s*-?[\d,]*\.?\d+\s*(%|×|x| ms| s| µs| MiB)?\s*$")
STEP = re.compile(r"([^.\[\]]+)|\[([^\]]+)\]")


def walk(document: Any, path: str) -> Any:
    """The value at ``path`` (see the module docstring)."""
    value = document
    for key, selector in STEP.findall(path):
        if key:
            value = value[key]
        elif selector.lstrip("-").isdigit():
            value = value[int(selector)]
        else:
            wanted = dict(part.split("=", 1) for part in selector.split(","))
            matches = [item for item in value if all(str(item.get(k)) == v for k, v in wanted.items())]
            if len(matches) != 1:
                raise KeyError(f"{selector}: {len(matches)} elements match")
            value = matches[0]
    return value


def cited_numbers(path: Path) -> list[tuple[int, str, str, str, float]]:
    """Each cited number of a doc: (line, cited file, JSON path, shown text, factor); and checks bare numbers."""
    found = []
    cited_file = None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if marker := CITES_FILE.search(line):
            cited_file = marker.group(1)
            continue
        if not line.startswith("|"):
            if line.strip() == "" or line.startswith("#"):
                cited_file = None if line.startswith("#") else cited_file
            continue
        if cited_file is None:
            continue
        cells = line.strip().strip("|").split("|")
        for cell in cells:
            if BARE_NUMBER.match(cell) and "<!--" not in cell:
                raise AssertionError(f"{path.name}:{number}: {cell.strip()!r} cites no value of {cited_file}")
            for match in CITED_NUMBER.finditer(cell):
                shown, _, key, factor = match.groups()
                found.append((number, cited_file, key, shown, float(factor or 1)))
    return found


def test_the_docs_cite_numbers():
    assert sum(len(cited_numbers(doc)) for doc in DOCS) >= 40


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_cited_number_is_the_one_in_its_results_file(doc):
    documents: dict[str, Any] = {}
    for line, cited_file, key, shown, factor in cited_numbers(doc):
        if cited_file not in documents:
            documents[cited_file] = json.loads((ROOT / cited_file).read_text())
        value = walk(documents[cited_file], key) * factor
        decimals = len(shown.split(".")[1]) if "." in shown else 0
        expected = round(float(value), decimals)
        assert abs(float(shown.replace(",", "")) - expected) <= 10**-decimals / 2 + 1e-12, (
            f"{doc.name}:{line}: shows {shown} for {key} of {cited_file}, which holds {value}"
        )


def test_the_walk_reads_keys_positions_and_selections():
    document = {"results": [{"model": "a", "n": 5, "mae": 0.71}, {"model": "b", "n": 5, "mae": 0.8}], "x": [3, 4]}
    assert walk(document, "results[model=b,n=5].mae") == 0.8 and walk(document, "x[1]") == 4
    with pytest.raises(KeyError):
        walk(document, "results[n=5].mae")

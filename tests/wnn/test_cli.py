import json
import subprocess
import sys

import pytest

from wnn.cli import build_parser, main


def test_help_lists_the_commands():
    text = build_parser().format_help()
    for command in ("data", "evaluate", "bench"):
        assert command in text


def test_missing_data_folder_is_a_clear_error(tmp_path, capsys):
    code = main(["data", "info", "--data", str(tmp_path / "nowhere")])
    assert code == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "wnnrec data fetch" in err


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "wnn.cli", "evaluate", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--protocol" in out.stdout


@pytest.mark.data
def test_evaluate_writes_json(movielens, tmp_path):
    path = tmp_path / "p.json"
    assert (
        main(
            [
                "evaluate",
                "--protocol",
                "prequential",
                "--json",
                str(path),
                "--limit",
                "3000",
                "--models",
                "wnn,biasedmf",
                "--quiet",
            ]
        )
        == 0
    )
    doc = json.loads(path.read_text())
    assert doc["dataset"] == "ml-100k" and doc["n_events"] == 3000
    assert {r["model"] for r in doc["results"]} == {"wnn", "biasedmf"}


@pytest.mark.data
def test_bench_model_writes_the_keys(movielens, tmp_path):
    path = tmp_path / "b.json"
    assert main(["bench", "model", "--json", str(path), "--rounds", "1", "--limit", "20000"]) == 0
    doc = json.loads(path.read_text())
    for key in (
        "events_per_s",
        "biasedmf_events_per_s",
        "score_all_p50_ms",
        "score_all_p99_ms",
        "state_bytes_at_10",
        "state_bytes_at_100",
    ):
        assert doc[key] is not None and doc[key] > 0


@pytest.mark.parametrize(
    "argv, where, what",
    [
        (["--frobnicate"], "wnnrec:", "unrecognized arguments: --frobnicate"),
        (
            ["evaluate", "--protocol", "prequential", "--json", "x.json", "--speeed", "3"],
            "wnnrec evaluate:",
            "unrecognized arguments: --speeed 3",
        ),
        (["data"], "wnnrec data:", "choose one of: fetch, info"),
        ([], "wnnrec:", "choose one of: data"),
    ],
)
def test_usage_mistakes_are_reported_by_the_command_they_belong_to(argv, where, what, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"{where} error: {what}" in err and "Traceback" not in err


def test_an_unknown_model_is_one_line_with_the_choices(tmp_path):
    with pytest.raises(SystemExit, match="unknown model 'bogus'; choose from wnn, "):
        main(["evaluate", "--protocol", "prequential", "--json", str(tmp_path / "x.json"), "--models", "bogus"])


def test_an_unwritable_data_folder_fails_before_downloading(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["data", "fetch", "--data", str(blocker / "below")]) == 2
    err = capsys.readouterr().err
    assert "Cannot write to the data folder" in err and "--data" in err


@pytest.mark.data
def test_without_json_a_command_prints_its_summary_and_writes_no_file(movielens, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["evaluate", "--protocol", "prequential", "--limit", "2000", "--models", "wnn", "--no-rank", "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "wnn" in out and "mae" in out and "wrote" not in out
    assert main(["audit", "unlearning", "--trials", "2", "--prefix", "300", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "identical_bytes_share: 1.0" in out and "wrote" not in out
    assert list(tmp_path.iterdir()) == []

import json
import subprocess
import sys

import pytest

from stream import admin
from wnnrec.cli import arguments
from wnnrec.cli.main import build_parser, main
from wnnrec.evaluation import IMPLICIT_MODELS


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
    out = subprocess.run([sys.executable, "-m", "wnnrec", "evaluate", "--help"], capture_output=True, text=True)
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
def test_evaluate_implicit_replays_the_likes_and_writes_ranking_rows_only(movielens, tmp_path, capsys):
    path = tmp_path / "implicit.json"
    argv = ["evaluate", "--protocol", "prequential", "--implicit", "--limit", "2000", "--json", str(path), "--quiet"]
    assert main(argv) == 0
    doc = json.loads(path.read_text())
    assert doc["implicit"] is True and doc["n_events"] == 2000
    overall = [r for r in doc["results"] if "prior_ratings" not in r]
    assert [r["model"] for r in overall] == list(IMPLICIT_MODELS) == ["wnn", "popularity", "sequence"]
    for row in doc["results"]:
        assert row["implicit"] is True and "mae" not in row and 0.0 <= row["hr_at_10"] <= 1.0
    assert all(r["n_events"] == 2000 and r["ndcg_at_10"] <= r["hr_at_10"] for r in overall)
    table = capsys.readouterr().out
    assert "hr_at_10" in table and "mae" not in table and "sequence" in table


def test_evaluate_help_explains_implicit():
    out = subprocess.run([sys.executable, "-m", "wnnrec", "evaluate", "--help"], capture_output=True, text=True)
    text = " ".join(out.stdout.split())
    assert "--implicit" in text and "only the likes" in text and "learned as the scale's highest rating" in text
    assert "Default models: " + ", ".join(IMPLICIT_MODELS) in text


@pytest.mark.parametrize(
    "flags, why",
    [
        (["--protocol", "per-user-split"], "--implicit works with --protocol prequential only"),
        (["--protocol", "prequential", "--drift-injection", "0.1"], "--implicit cannot go with --drift-injection"),
        (["--protocol", "prequential", "--no-rank"], "--implicit cannot go with --no-rank"),
        (["--protocol", "prequential", "--plot", "x.png"], "--implicit cannot go with --plot"),
    ],
)
def test_implicit_refuses_the_flags_it_cannot_go_with(flags, why, tmp_path):
    with pytest.raises(SystemExit, match=why):
        main(["evaluate", *flags, "--implicit", "--data", str(tmp_path / "never-read")])


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


def test_the_stream_commands_are_in_the_help():
    text = build_parser().format_help()
    for command in ("replay", "worker", "run", "evaluate"):
        assert command in text
    bench = build_parser().parse_args(["bench", "pipeline", "--json", "x.json"])
    assert bench.phases == ["throughput", "latency"]


@pytest.mark.data
def test_replay_without_a_broker_is_a_clear_error(movielens, monkeypatch, capsys):
    monkeypatch.setattr(admin, "BOOTSTRAP_TIMEOUT_MS", 1000)
    assert main(["replay", "--bootstrap-server", "127.0.0.1:1", "--limit", "5", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach a Kafka broker at 127.0.0.1:1" in err and "deploy/kafka/start" in err


def test_settings_from_arguments(tmp_path):
    args = build_parser().parse_args(
        [
            "worker",
            "--bootstrap",
            "h:1",
            "--topic-prefix",
            "x.",
            "--partitions",
            "2",
            "--state-dir",
            str(tmp_path),
            "--app-id",
            "a",
        ]
    )
    settings = arguments.settings_from(args)
    assert (settings.bootstrap, settings.ratings_topic, settings.partitions, settings.app_id) == (
        "h:1",
        "x.ratings",
        2,
        "a",
    )
    assert settings.state_dir == tmp_path


def test_the_topic_prefix_also_isolates_the_changelogs_and_the_consumer_group():
    from stream.settings import Settings

    a, b = Settings(topic_prefix="a."), Settings(topic_prefix="b.")
    assert a.faust_id == "a.wnnrec" and a.changelog_topic("user-wnn") == "a.wnnrec-user-wnn-changelog"
    assert {a.faust_id, a.changelog_topic("user-wnn")}.isdisjoint({b.faust_id, b.changelog_topic("user-wnn")})


def test_every_declared_setting_has_one_flag_one_variable_and_its_help_on_the_worker(monkeypatch):
    """Settings are declared once (stream.settings.setting): the worker's flags, the environment variables, the
    defaults and the help all come from that declaration."""
    from stream.settings import Settings, declarations

    worker = worker_parser()
    flags = {action.dest: action for action in worker._actions}
    for name, declaration in declarations().items():
        assert declaration.env.startswith(("WNNREC_", "KAFKA_")), name
        if declaration.flag is None:
            # secrets (environment only), and the data folder (the --data of the commands that read a dataset)
            assert name not in flags, name
            assert declaration.env in (
                "WNNREC_SASL_PASSWORD",
                "WNNREC_API_TOKEN",
                "WNNREC_API_ERASE_TOKEN",
                "WNNREC_DATA",
                "WNNREC_CRASH_AT",
            ), name
            continue
        action = flags[name]
        negated = ["--no-" + declaration.flag[2:]] if isinstance(declaration.default, bool) else []
        assert action.option_strings == [declaration.flag, *declaration.aliases, *negated], name
        assert action.default is None, name
        assert declaration.help in action.help and f"${declaration.env}" in action.help, name
        assert getattr(Settings(), name) == declaration.default, name
    assert len({d.env for d in declarations().values()}) == len(declarations())


def test_a_flag_overrides_its_variable_which_overrides_the_default(monkeypatch, tmp_path):
    monkeypatch.setenv("WNNREC_BATCH_MAX", "7")
    monkeypatch.setenv("WNNREC_LIST_EXPLANATIONS", "yes")
    monkeypatch.setenv("WNNREC_DATA", str(tmp_path))
    settings = arguments.settings_from(build_parser().parse_args(["worker"]))
    assert (settings.batch_max, settings.list_explanations, settings.data) == (7, True, str(tmp_path))
    settings = arguments.settings_from(
        build_parser().parse_args(["worker", "--batch-max", "3", "--no-list-explanations", "--insecure-no-auth"])
    )
    assert (settings.batch_max, settings.list_explanations, settings.insecure_no_auth) == (3, False, True)
    assert arguments.settings_from(build_parser().parse_args(["replay", "--data", "x"])).data == "x"


def test_settings_travel_to_a_child_process_through_their_variables(monkeypatch):
    from stream.settings import Settings
    from wnn.rating_scale import HALF_STARS

    sent = Settings(
        batch_max=5,
        topic_prefix="t.",
        sasl_username="u",
        security_protocol="SASL_PLAINTEXT",
        rating_scale=HALF_STARS,
    )
    for variable, value in sent.to_env().items():
        monkeypatch.setenv(variable, value)
    assert Settings() == sent


def test_the_rating_scale_comes_from_its_flag_or_variable_and_a_bad_one_is_one_clear_line(monkeypatch, capsys):
    from wnn.rating_scale import HALF_STARS, RatingScale

    parse = build_parser().parse_args
    assert arguments.settings_from(parse(["worker", "--rating-scale", "0.5:5:0.5"])).rating_scale == HALF_STARS
    monkeypatch.setenv("WNNREC_RATING_SCALE", "0:10")
    assert arguments.settings_from(parse(["worker"])).rating_scale == RatingScale(0.0, 10.0, 1.0)
    with pytest.raises(SystemExit):
        parse(["worker", "--rating-scale", "5:1"])
    assert "--rating-scale: a rating scale's lowest rating must be below its highest" in capsys.readouterr().err
    monkeypatch.setenv("WNNREC_RATING_SCALE", "stars")
    assert main(["worker", "--insecure-no-auth"]) == 2
    assert "WNNREC_RATING_SCALE='stars': a rating scale is LOW:HIGH" in capsys.readouterr().err


def test_the_command_line_conventions(capsys, tmp_path):
    """--version; Kafka's --bootstrap-server (the older --bootstrap still accepted); yes/no settings as --x/--no-x;
    a command's flags are only the settings it uses."""
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("wnnrec ")
    parse = build_parser().parse_args
    assert arguments.settings_from(parse(["worker", "--bootstrap-server", "h:1"])).bootstrap == "h:1"
    assert arguments.settings_from(parse(["worker", "--bootstrap", "h:2"])).bootstrap == "h:2"
    assert arguments.settings_from(parse(["worker", "--list-explanations"])).list_explanations is True
    with pytest.raises(SystemExit):
        parse(["worker", "--list-explanations", "1"])  # a yes/no flag takes no value
    with pytest.raises(SystemExit):
        parse(["catalogue", "publish", "--partitions", "3"])


def worker_parser():
    """The ``wnnrec worker`` parser, as the command line builds it."""
    import argparse

    from wnnrec.cli import worker

    subcommands = arguments.add_subcommands(argparse.ArgumentParser(), "command")
    worker.register(subcommands)
    return subcommands.choices["worker"]

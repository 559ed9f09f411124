import pytest

from stream import cli, replay


def test_stream_commands_are_in_the_help():
    text = cli.build_parser().format_help()
    for command in ("replay", "worker", "run", "evaluate"):
        assert command in text
    bench = cli.build_parser().parse_args(["bench", "pipeline", "--json", "x.json"])
    assert bench.phases == ("throughput", "latency")


@pytest.mark.data
def test_replay_without_a_broker_is_a_clear_error(movielens, monkeypatch, capsys):
    monkeypatch.setattr(replay, "BOOTSTRAP_TIMEOUT_MS", 1000)
    assert cli.main(["replay", "--bootstrap", "127.0.0.1:1", "--limit", "5", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach a Kafka broker at 127.0.0.1:1" in err and "deploy/kafka/start" in err


def test_settings_from_arguments(tmp_path):
    args = cli.build_parser().parse_args(["worker", "--bootstrap", "h:1", "--topic-prefix", "x.", "--partitions", "2",
                                          "--state-dir", str(tmp_path), "--app-id", "a"])
    settings = cli.settings_from(args)
    assert (settings.bootstrap, settings.ratings_topic, settings.partitions, settings.app_id) == ("h:1", "x.ratings",
                                                                                                   2, "a")
    assert settings.state_dir == tmp_path


def test_the_topic_prefix_also_isolates_the_changelogs_and_the_consumer_group():
    from stream.settings import Settings

    a, b = Settings(topic_prefix="a."), Settings(topic_prefix="b.")
    assert a.faust_id == "a.wnnrec" and a.changelog_topic("user-wnn") == "a.wnnrec-user-wnn-changelog"
    assert {a.faust_id, a.changelog_topic("user-wnn")}.isdisjoint({b.faust_id, b.changelog_topic("user-wnn")})

"""Worker settings, from the command line or the environment (``KAFKA_BOOTSTRAP_SERVERS``, ``WNNREC_*``)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from wnn.config import MAX_PAIRS_LIMIT


#: Environment variable of each setting that has one (the rest are WNNREC_<NAME>).
ENV_NAMES = {"bootstrap": "KAFKA_BOOTSTRAP_SERVERS", "data": "WNNREC_DATA"}


def env_name(field: str) -> str:
    return ENV_NAMES.get(field, f"WNNREC_{field.upper()}")


def flag_value(text: str) -> bool:
    """A yes/no setting from text (1, true, yes, on: yes)."""
    return text.strip().lower() in ("1", "true", "yes", "on")


class ApiTokenError(ValueError):
    """The worker has no usable API token and was not told to run without one."""


def _setting(field: str, default, cast):
    """A dataclass field whose default comes from its environment variable when that is set."""
    def factory():
        text = os.environ.get(env_name(field))
        return cast(text) if text else default
    return dataclasses.field(default_factory=factory)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a worker, the replayer and the pipeline benchmark need to find each other.

    ``topic_prefix`` namespaces every topic, the tables' changelogs and the consumer group included (their names
    start with :attr:`faust_id`, the prefix plus ``app_id``), so tests and benchmarks can run on fresh topics beside
    a live deployment.

    Every field with an environment variable takes its default from it: ``KAFKA_BOOTSTRAP_SERVERS``,
    ``WNNREC_DATA`` (the data folder, as for ``wnnrec data`` and the evaluation), and ``WNNREC_<NAME>`` in upper case
    for the others. The stream-engine settings:

    ``batch_max`` / ``batch_linger_ms``
        The agent takes up to ``batch_max`` ratings, or what arrived within ``batch_linger_ms``, as one micro-batch:
        one table write, one list and one drift message per user per batch. ``batch_max=1`` is the low-latency
        setting (one list per rating).
    ``batch_delivery``
        On (the default), faust hands the agent each partition's records of a consumer fetch as one message
        (:mod:`stream.faust_compat`), split at ``batch_max`` records, and the agent processes each such batch as
        soon as it arrives (``batch_linger_ms`` then only shapes ``test_context()`` and ``--embedded`` runs). Off,
        every record is its own faust message and the agent gathers micro-batches with ``Stream.take_events``.
    ``delivery_pipeline_depth``
        Batches whose outputs may still be on their way to the broker while the agent processes the next one
        (:mod:`stream.delivery`); input is marked processed, and so committed, only once its batch's outputs and
        every earlier batch's are delivered. 0 waits for each batch's delivery before the next batch.
    ``fetch_max_wait_ms``
        How long the broker may hold a fetch that has no data. faust hard-codes 1,500 ms, which stalls the loop on
        the worker's always-empty internal topics; see :mod:`stream.faust_compat`.
    ``max_poll_records``
        Records per consumer fetch (faust's ``broker_max_poll_records``).
    ``session_timeout_s`` / ``heartbeat_s``
        Consumer-group liveness: a dead worker's partitions move after ``session_timeout_s``.
    ``max_message_bytes``
        Larger input messages go to the dead-letter topic unread.
    ``share_buckets`` / ``share_publish_interval_s``
        Each partition's item-statistics shares are published for the other workers as this many messages (by
        item hash), the changed ones every ``share_publish_interval_s``.
    ``segment_pairs``
        A user's stored pairs lie in the user table in segments of at most this many (:mod:`stream.user_layout`);
        a batch writes the segments it changed and the user's manifest, not the whole history.
    ``tombstones_per_user``
        Forgotten event ids remembered per user, so a redelivery or replay cannot bring a forgotten rating back.
    ``cache_mib``
        Memory budget of the live-network cache.
    ``commit_interval_s``
        Offsets marked processed are committed this often. A crash redelivers what was processed but not committed:
        the batch being processed, up to ``delivery_pipeline_depth`` batches whose outputs are in flight, and what
        was marked within the last interval (the fault suite asserts this bound).
    ``processing_guarantee``
        ``at_least_once`` (default; duplicates are recognised by event id) or ``exactly_once`` (Kafka transactions).
    ``list_explanations``
        Each item of a ``recommendations`` message carries ``why``: its score split into terms (popularity,
        sequence context and the items it followed, affinity, predicted rating, like probability). Off by default:
        it makes list messages 1.7 times larger (README, "Lists that explain themselves").
    ``changelog_compaction_lag_s``
        How long a superseded value may stay in the tables' changelogs (a forgotten rating's old user state
        included): segments roll and become compactable after this long (``segment.ms``,
        ``max.compaction.lag.ms``), so the log cleaner removes them within about twice this.
    """

    bootstrap: str = _setting("bootstrap", "127.0.0.1:9092", str)
    app_id: str = _setting("app_id", "wnnrec", str)
    topic_prefix: str = _setting("topic_prefix", "", str)
    partitions: int = _setting("partitions", 4, int)
    state_dir: Path = _setting("state_dir", Path(".wnnrec-state"), Path)
    top_n: int = 10
    web_port: int = _setting("web_port", 6066, int)
    #: Interface the HTTP API listens on; only this machine by default.
    web_bind: str = _setting("web_bind", "127.0.0.1", str)
    #: Bearer token every API request but /health and /metrics must carry (or a file holding it).
    api_token: str | None = _setting("api_token", None, str)
    api_token_file: str | None = _setting("api_token_file", None, str)
    #: Serve the API without authentication (logged loudly; for a sealed-off test box only).
    insecure_no_auth: bool = _setting("insecure_no_auth", False, flag_value)
    drift_interval_s: float = 5.0
    data: str | None = _setting("data", None, str)
    #: RocksDB block cache per table partition (faust's default is 2 GiB).
    block_cache_bytes: int = 8 << 20
    batch_max: int = _setting("batch_max", 1000, int)
    batch_linger_ms: float = _setting("batch_linger_ms", 20.0, float)
    batch_delivery: bool = _setting("batch_delivery", True, flag_value)
    delivery_pipeline_depth: int = _setting("delivery_pipeline_depth", 8, int)
    fetch_max_wait_ms: int = _setting("fetch_max_wait_ms", 10, int)
    max_poll_records: int = _setting("max_poll_records", 2000, int)
    session_timeout_s: float = _setting("session_timeout_s", 6.0, float)
    heartbeat_s: float = _setting("heartbeat_s", 2.0, float)
    max_message_bytes: int = _setting("max_message_bytes", 64 * 1024, int)
    share_buckets: int = _setting("share_buckets", 16, int)
    share_publish_interval_s: float = _setting("share_publish_interval_s", 1.0, float)
    tombstones_per_user: int = _setting("tombstones_per_user", 10_000, int)
    segment_pairs: int = _setting("segment_pairs", 64, int)
    list_explanations: bool = _setting("list_explanations", False, flag_value)
    changelog_compaction_lag_s: float = _setting("changelog_compaction_lag_s", 3600.0, float)
    #: A user's newest ratings kept (older ones are forgotten exactly, item statistics included, a tenth at a
    #: time): bounds a user's state, about 25 bytes a rating. At most 1,000,000 (wnn.config.MAX_PAIRS_LIMIT).
    max_pairs_per_user: int = _setting("max_pairs_per_user", 10_000, int)
    cache_mib: float = _setting("cache_mib", 256.0, float)
    processing_guarantee: str = _setting("processing_guarantee", "at_least_once", str)
    #: Kafka security, passed to faust, aiokafka and kafka-python alike (see :meth:`kafka_python_options`).
    security_protocol: str = _setting("security_protocol", "PLAINTEXT", str)
    sasl_mechanism: str = _setting("sasl_mechanism", "PLAIN", str)
    sasl_username: str | None = _setting("sasl_username", None, str)
    sasl_password: str | None = _setting("sasl_password", None, str)
    sasl_password_file: str | None = _setting("sasl_password_file", None, str)
    ssl_cafile: str | None = _setting("ssl_cafile", None, str)
    ssl_certfile: str | None = _setting("ssl_certfile", None, str)
    ssl_keyfile: str | None = _setting("ssl_keyfile", None, str)
    commit_interval_s: float = _setting("commit_interval_s", 0.1, float)

    def __post_init__(self) -> None:
        if self.batch_max < 1:
            raise ValueError(f"batch_max must be at least 1, got {self.batch_max}")
        if self.batch_linger_ms < 0 or self.fetch_max_wait_ms < 0:
            raise ValueError("batch_linger_ms and fetch_max_wait_ms must not be negative")
        if self.segment_pairs < 1:
            raise ValueError(f"segment_pairs must be at least 1, got {self.segment_pairs}")
        if self.delivery_pipeline_depth < 0:
            raise ValueError(f"delivery_pipeline_depth must not be negative, got {self.delivery_pipeline_depth}")
        if not 1 <= self.max_pairs_per_user <= MAX_PAIRS_LIMIT:
            raise ValueError(f"max_pairs_per_user must be in [1, {MAX_PAIRS_LIMIT:,}], got {self.max_pairs_per_user}")
        if self.changelog_compaction_lag_s < 1:
            raise ValueError(f"changelog_compaction_lag_s must be at least 1, got {self.changelog_compaction_lag_s}")
        if self.share_buckets < 1:
            raise ValueError(f"share_buckets must be at least 1, got {self.share_buckets}")
        if self.security_protocol not in ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"):
            raise ValueError(f"security_protocol must be PLAINTEXT, SASL_PLAINTEXT, SASL_SSL or SSL, got "
                             f"{self.security_protocol!r}")
        if self.security_protocol.startswith("SASL") and not self.sasl_username:
            raise ValueError(f"security_protocol {self.security_protocol} needs a SASL username (and password)")
        if self.processing_guarantee not in ("at_least_once", "exactly_once"):
            raise ValueError(f"processing_guarantee must be at_least_once or exactly_once, got "
                             f"{self.processing_guarantee!r}")

    def _sasl_password(self) -> str | None:
        if self.sasl_password or not self.sasl_password_file:
            return self.sasl_password
        try:
            return Path(self.sasl_password_file).read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read the SASL password file {self.sasl_password_file}: {exc}") from None

    def _ssl_context(self):
        if not self.security_protocol.endswith("SSL"):
            return None
        from aiokafka.helpers import create_ssl_context

        return create_ssl_context(cafile=self.ssl_cafile, certfile=self.ssl_certfile, keyfile=self.ssl_keyfile)

    def kafka_python_options(self) -> dict:
        """Security options for kafka-python clients (producer, consumer, admin); empty for PLAINTEXT."""
        options: dict = {}
        if self.security_protocol != "PLAINTEXT":
            options["security_protocol"] = self.security_protocol
        if self.security_protocol.startswith("SASL"):
            options.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.sasl_username,
                           sasl_plain_password=self._sasl_password())
        if self.security_protocol.endswith("SSL"):
            options.update({key: value for key, value in (("ssl_cafile", self.ssl_cafile),
                                                          ("ssl_certfile", self.ssl_certfile),
                                                          ("ssl_keyfile", self.ssl_keyfile)) if value})
        return options

    def aiokafka_options(self) -> dict:
        """The same for aiokafka clients (which take an SSL context instead of files)."""
        options = {key: value for key, value in self.kafka_python_options().items() if not key.startswith("ssl_")}
        context = self._ssl_context()
        if context is not None:
            options["ssl_context"] = context
        return options

    def faust_credentials(self):
        """faust's ``broker_credentials`` for these settings (None for PLAINTEXT)."""
        import faust

        if self.security_protocol.startswith("SASL"):
            return faust.SASLCredentials(username=self.sasl_username, password=self._sasl_password(),
                                         mechanism=self.sasl_mechanism, ssl_context=self._ssl_context())
        if self.security_protocol == "SSL":
            return faust.SSLCredentials(self._ssl_context())
        return None

    def resolved_api_token(self) -> str | None:
        """The API token: ``api_token``, else the first line of ``api_token_file``; None only with
        ``insecure_no_auth``. Raises :class:`ApiTokenError` saying what to set otherwise."""
        token = self.api_token
        if not token and self.api_token_file:
            try:
                token = Path(self.api_token_file).read_text().strip()
            except OSError as exc:
                raise ApiTokenError(f"cannot read the API token file {self.api_token_file}: {exc}") from None
            if not token:
                raise ApiTokenError(f"the API token file {self.api_token_file} is empty")
        if token:
            if len(token) < 16:
                raise ApiTokenError("the API token must be at least 16 characters")
            return token
        if self.insecure_no_auth:
            return None
        raise ApiTokenError("the HTTP API needs a token: set WNNREC_API_TOKEN or --api-token-file (at least 16 "
                            "characters), or pass --insecure-no-auth to serve every user's data to anyone who "
                            "can reach the port")

    def to_env(self) -> dict[str, str]:
        """These settings as environment variables (a child worker process reads them back)."""
        return {env_name(f.name): str(getattr(self, f.name)) for f in dataclasses.fields(self)
                if getattr(self, f.name) is not None and f.name not in ("top_n", "drift_interval_s",
                                                                        "block_cache_bytes")}

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def faust_id(self) -> str:
        """The faust app id: the consumer group, and the first part of every changelog topic's name."""
        return self.topic(self.app_id)

    def changelog_topic(self, table: str) -> str:
        """The changelog topic faust keeps for ``table``."""
        return f"{self.faust_id}-{table}-changelog"

    @property
    def topics(self) -> list[str]:
        """Every topic of a deployment: ratings, recommendations, drift metrics, dead letters."""
        return [self.ratings_topic, self.recommendations_topic, self.drift_topic, self.dlq_topic]

    @property
    def ratings_topic(self) -> str:
        return self.topic("ratings")

    @property
    def recommendations_topic(self) -> str:
        return self.topic("recommendations")

    @property
    def drift_topic(self) -> str:
        return self.topic("drift-metrics")

    @property
    def dlq_topic(self) -> str:
        return self.topic("ratings-dlq")


def changelog_topic_configs(settings: Settings) -> dict[str, str]:
    """Topic settings of the tables' changelogs that bound how long a superseded value stays in them.

    A changelog is compacted: only a key's newest value is kept, but the log cleaner never touches the active
    segment, and by default a segment rolls after 7 days. Rolling segments after ``changelog_compaction_lag_s`` and
    making them compactable by then means a user's state from before a forget is gone from the changelog within
    about twice that (plus the cleaner's back-off of 15 s), and a deleted key's tombstone within a day.

    >>> changelog_topic_configs(Settings(changelog_compaction_lag_s=600))["max.compaction.lag.ms"]
    '600000'
    """
    lag_ms = str(int(settings.changelog_compaction_lag_s * 1000))
    return {"segment.ms": lag_ms, "max.compaction.lag.ms": lag_ms, "min.cleanable.dirty.ratio": "0.01",
            "delete.retention.ms": str(24 * 3600 * 1000)}

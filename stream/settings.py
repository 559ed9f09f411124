"""Worker settings, from the command line or the environment (``KAFKA_BOOTSTRAP_SERVERS``, ``WNNREC_*``)."""

from __future__ import annotations

import dataclasses
import ssl
from pathlib import Path
from typing import Any

from stream.contracts import DEAD_LETTERS, DRIFT_METRICS, ITEMS, RATINGS, RECOMMENDATIONS
from stream.declarations import ENGINE, KAFKA, SECURITY, WORKER, Declaration, setting
from stream.user_layout import SEGMENT_PAIRS
from wnn.config import MAX_PAIRS_LIMIT, WNNConfig
from wnn.rating_scale import WHOLE_STARS, RatingScale

DEFAULT_STATE_DIR = Path(".wnnrec-state")


class ApiTokenError(ValueError):
    """The worker has no usable API token and was not told to run without one."""


def from_environment(name: str) -> Any:
    """The setting ``name`` as its environment variable gives it (its default when unset), without building a whole
    :class:`Settings` (a tool that needs one setting must not fail on another's bad value)."""
    factory = next(field.default_factory for field in dataclasses.fields(Settings) if field.name == name)
    if not callable(factory):
        raise KeyError(f"{name} is not a declared setting")
    return factory()


def declarations() -> dict[str, Declaration]:
    """Each declared setting's :class:`Declaration`, by field name, in declaration order."""
    return {
        field.name: field.metadata["declaration"]
        for field in dataclasses.fields(Settings)
        if "declaration" in field.metadata
    }


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a worker, the replayer and the pipeline benchmark need to find each other, and the stream engine's
    knobs. Each field is declared once, with :func:`setting`: default, environment variable, flag and help.

    ``topic_prefix`` namespaces every topic, the tables' changelogs and the consumer group included (their names
    start with :attr:`faust_id`, the prefix plus ``app_id``), so tests and benchmarks can run on fresh topics beside
    a live deployment.

    >>> Settings(batch_max=1).batch_max
    1
    """

    bootstrap: str = setting(
        "bootstrap",
        "127.0.0.1:9092",
        "Kafka bootstrap servers",
        group=KAFKA,
        env="KAFKA_BOOTSTRAP_SERVERS",
        flag="--bootstrap-server",
        aliases=("--bootstrap",),
        metavar="HOST:PORT[,...]",
    )
    topic_prefix: str = setting(
        "topic_prefix", "", "prefix of every topic name, the changelogs and the consumer group included", group=KAFKA
    )
    partitions: int = setting("partitions", 4, "partitions of the topics the worker or the replay creates", group=KAFKA)
    replication_factor: int | None = setting(
        "replication_factor",
        None,
        "replicas of every topic wnnrec creates, the tables' changelogs included (none: min(3, the brokers in the "
        "cluster), so that losing a broker does not lose the model's state)",
        group=KAFKA,
        cast=int,
    )
    min_insync_replicas: int | None = setting(
        "min_insync_replicas",
        None,
        "min.insync.replicas of every topic wnnrec creates (none: 2 with 3 or more replicas, else 1)",
        group=KAFKA,
        cast=int,
    )
    topic_retention_ms: int | None = setting(
        "topic_retention_ms",
        None,
        "retention.ms of the input and output topics the worker creates (none: the broker's default; -1 keeps "
        "everything, as wnnrec replay and run set for their replay topics)",
        group=KAFKA,
        cast=int,
    )
    security_protocol: str = setting(
        "security_protocol",
        "PLAINTEXT",
        "PLAINTEXT, SASL_PLAINTEXT, SASL_SSL or SSL; passed to faust, aiokafka and kafka-python alike",
        group=SECURITY,
    )
    sasl_mechanism: str = setting("sasl_mechanism", "PLAIN", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", group=SECURITY)
    sasl_username: str | None = setting("sasl_username", None, "SASL user name", group=SECURITY)
    sasl_password: str | None = setting(
        "sasl_password",
        None,
        "SASL password (environment only, so that it never shows in a process list)",
        group=SECURITY,
        flag=None,
        secret=True,
    )
    sasl_password_file: str | None = setting(
        "sasl_password_file", None, "file holding the SASL password", group=SECURITY, metavar="PATH"
    )
    ssl_cafile: str | None = setting(
        "ssl_cafile", None, "CA bundle to verify the broker with", group=SECURITY, metavar="PATH"
    )
    ssl_certfile: str | None = setting(
        "ssl_certfile", None, "client certificate (mutual TLS)", group=SECURITY, metavar="PATH"
    )
    ssl_keyfile: str | None = setting(
        "ssl_keyfile", None, "the client certificate's key", group=SECURITY, metavar="PATH"
    )
    app_id: str = setting(
        "app_id",
        "wnnrec",
        "faust app id: the consumer group, and the first part of every changelog's name",
        group=WORKER,
    )
    state_dir: Path = setting(
        "state_dir", DEFAULT_STATE_DIR, "RocksDB folder of the tables", group=WORKER, cast=Path, metavar="DIR"
    )
    web_port: int = setting("web_port", 6066, "port of the HTTP API", group=WORKER)
    web_bind: str = setting(
        "web_bind",
        "127.0.0.1",
        "interface the HTTP API listens on (0.0.0.0 opens every interface)",
        group=WORKER,
        metavar="ADDRESS",
    )
    web_advertised_host: str | None = setting(
        "web_advertised_host",
        None,
        "host name the other workers reach this one's API at, to route a request for a user it owns (none: "
        "--web-bind, or this machine's host name when that is every interface; on Kubernetes, the pod's name "
        "under the StatefulSet's headless Service)",
        group=WORKER,
        metavar="HOST",
    )
    api_token: str | None = setting(
        "api_token",
        None,
        "bearer token every API request but the probes (/livez, /readyz, /health), /metrics and /openapi.json "
        "must carry, at least 16 characters (environment only)",
        group=WORKER,
        flag=None,
        secret=True,
    )
    api_token_file: str | None = setting(
        "api_token_file", None, "file holding the API's bearer token", group=WORKER, metavar="PATH"
    )
    api_erase_token: str | None = setting(
        "api_erase_token",
        None,
        "bearer token of the erase scope, the only one the API's DELETE routes (forgetting ratings, erasing users) "
        "accept: at least 16 characters, not the read token; without it they answer 403 (environment only)",
        group=WORKER,
        flag=None,
        secret=True,
    )
    api_erase_token_file: str | None = setting(
        "api_erase_token_file", None, "file holding the erase scope's bearer token", group=WORKER, metavar="PATH"
    )
    insecure_no_auth: bool = setting(
        "insecure_no_auth",
        False,
        "serve the API without authentication (refused "
        "unless asked: every user's ratings would be readable and deletable by anyone "
        "who reaches the port)",
        group=WORKER,
    )
    data: str | None = setting(
        "data",
        None,
        "dataset folder of the commands that read one (their --data; a worker takes its catalogue from the items "
        "topic)",
        group=WORKER,
        flag=None,
    )
    crash_at: str = setting(
        "crash_at",
        "",
        "the fault suite's crash point, POINT:INPUTS (stream.crash_points); empty outside the fault suite",
        group=WORKER,
        flag=None,
    )
    batch_max: int = setting(
        "batch_max",
        1000,
        "ratings per micro-batch: one table write and one list per user per "
        "batch, one drift message per partition per batch (1: one list per rating, the lowest latency)",
        group=ENGINE,
    )
    list_messages: str = setting(
        "list_messages",
        "user",
        "user: one recommendations message per touched user per batch, keyed by the user (a compacted topic keeps "
        "each user's latest list); partition: one per input partition per batch holding every touched user's list, "
        "keyed by the partition (far fewer messages when a batch touches many users)",
        group=ENGINE,
        metavar="{user,partition}",
    )
    batch_linger_s: float = setting(
        "batch_linger_s",
        0.02,
        "longest wait for a micro-batch to fill, where the "
        "agent gathers batches itself (batch delivery off, test_context, --embedded)",
        group=ENGINE,
    )
    batch_delivery: bool = setting(
        "batch_delivery",
        True,
        "on: each partition's records of a consumer fetch reach "
        "the agent as one faust message, split at batch_max (stream.faust_compat); off: "
        "one message per rating, gathered by Stream.take_events",
        group=ENGINE,
    )
    delivery_pipeline_depth: int = setting(
        "delivery_pipeline_depth",
        8,
        "batches whose outputs may still be on "
        "their way to the broker while the next is processed; input is committed "
        "only once its batch's and every earlier batch's outputs are delivered "
        "(0: wait for each batch)",
        group=ENGINE,
    )
    fetch_max_wait_s: float = setting(
        "fetch_max_wait_s",
        0.01,
        "longest the broker may hold a fetch without data "
        "(faust hard-codes 1.5 s, which stalls the loop on always-empty internal "
        "topics)",
        group=ENGINE,
    )
    max_poll_records: int = setting("max_poll_records", 2000, "records per consumer fetch", group=ENGINE)
    session_timeout_s: float = setting(
        "session_timeout_s",
        6.0,
        "consumer-group session timeout: a dead worker's partitions move after this long (6 is the broker's minimum)",
        group=ENGINE,
    )
    heartbeat_s: float = setting("heartbeat_s", 2.0, "consumer-group heartbeat interval", group=ENGINE)
    max_message_bytes: int = setting(
        "max_message_bytes", 64 * 1024, "larger input messages go to the dead-letter topic unread", group=ENGINE
    )
    share_buckets: int = setting(
        "share_buckets",
        16,
        "messages (by item hash) each partition's item-statistics shares are published in for the other workers",
        group=ENGINE,
    )
    share_publish_interval_s: float = setting(
        "share_publish_interval_s",
        1.0,
        "how often the worker checks whether its partitions' item-statistics changes are due for publication",
        group=ENGINE,
    )
    share_publish_ratings: int = setting(
        "share_publish_ratings",
        5000,
        "a partition's changed item-statistics buckets are published once this many ratings or forgets changed "
        "them (so the bytes follow the changes, not the clock) ...",
        group=ENGINE,
    )
    share_publish_max_age_s: float = setting(
        "share_publish_max_age_s",
        10.0,
        "... or once the oldest of those changes is this old (how far behind the other workers may be)",
        group=ENGINE,
    )
    tombstones_per_user: int = setting(
        "tombstones_per_user",
        10_000,
        "forgotten event ids remembered per user, so that a redelivery or replay cannot bring a forgotten rating back",
        group=ENGINE,
    )
    segment_pairs: int = setting(
        "segment_pairs",
        SEGMENT_PAIRS,
        "pairs per stored segment of a user's state; a batch writes "
        "the segments it filled and the user's manifest, which carries the fewer "
        "than this many newest pairs, not the whole history (stream.user_layout). "
        "Fewer: fewer bytes a batch; more: fewer keys to read for a user not in the cache",
        group=ENGINE,
    )
    list_explanations: bool = setting(
        "list_explanations",
        False,
        "every item of a list message carries its score "
        "split into terms (popularity, sequence context, affinity, predicted rating, "
        "like probability); makes list messages 1.7 times larger",
        group=ENGINE,
    )
    changelog_compaction_lag_s: float = setting(
        "changelog_compaction_lag_s",
        3600.0,
        "longest a superseded value "
        "(a forgotten rating's old user state included) stays in the tables' "
        "changelogs before the log cleaner may remove it: segments roll and "
        "become compactable after this long",
        group=ENGINE,
    )
    max_pairs_per_user: int = setting(
        "max_pairs_per_user",
        10_000,
        "a user's newest ratings kept; older ones are "
        f"forgotten exactly, item statistics included, a tenth at a time (at most "
        f"{MAX_PAIRS_LIMIT:,}, about 25 bytes a rating)",
        group=ENGINE,
    )
    rating_scale: RatingScale = setting(
        "rating_scale",
        WHOLE_STARS,
        "the stars ratings take, LOW:HIGH[:STEP] (1:5 for ML-100K, 0.5:5:0.5 for half stars): a rating outside it "
        "is dead-lettered; the prior mean, the like threshold and the prediction clip derive from it",
        group=ENGINE,
        cast=RatingScale.parse,
        metavar="LOW:HIGH[:STEP]",
    )
    cache_mib: float = setting("cache_mib", 256.0, "memory budget of the live user-network cache", group=ENGINE)
    processing_guarantee: str = setting(
        "processing_guarantee",
        "at_least_once",
        "at_least_once (duplicates are recognised by event id) or exactly_once (Kafka transactions)",
        group=ENGINE,
    )
    commit_interval_s: float = setting(
        "commit_interval_s",
        0.1,
        "offsets marked processed are committed this "
        "often; a crash redelivers the batch in hand, the batches in flight and "
        "what was marked within the last interval",
        group=ENGINE,
    )
    #: Fixed for every deployment (no flag, no variable).
    top_n: int = 10
    drift_interval_s: float = 5.0
    #: RocksDB block cache per table partition (faust's default is 2 GiB).
    block_cache_bytes: int = 8 << 20

    def __post_init__(self) -> None:
        if self.batch_max < 1:
            raise ValueError(f"batch_max must be at least 1, got {self.batch_max}")
        if self.batch_linger_s < 0 or self.fetch_max_wait_s < 0:
            raise ValueError("batch_linger_s and fetch_max_wait_s must not be negative")
        if self.segment_pairs < 1:
            raise ValueError(f"segment_pairs must be at least 1, got {self.segment_pairs}")
        if self.delivery_pipeline_depth < 0:
            raise ValueError(f"delivery_pipeline_depth must not be negative, got {self.delivery_pipeline_depth}")
        if not 1 <= self.max_pairs_per_user <= MAX_PAIRS_LIMIT:
            raise ValueError(f"max_pairs_per_user must be in [1, {MAX_PAIRS_LIMIT:,}], got {self.max_pairs_per_user}")
        if self.changelog_compaction_lag_s < 1:
            raise ValueError(f"changelog_compaction_lag_s must be at least 1, got {self.changelog_compaction_lag_s}")
        if self.share_publish_ratings < 1 or self.share_publish_max_age_s < 0:
            raise ValueError("share_publish_ratings must be at least 1 and share_publish_max_age_s not negative")
        if self.replication_factor is not None and self.replication_factor < 1:
            raise ValueError(f"replication_factor must be at least 1, got {self.replication_factor}")
        if self.min_insync_replicas is not None and not 1 <= self.min_insync_replicas <= (
            self.replication_factor or self.min_insync_replicas
        ):
            raise ValueError(
                f"min_insync_replicas must be at least 1 and at most the replication factor, got "
                f"{self.min_insync_replicas}"
            )
        if self.share_buckets < 1:
            raise ValueError(f"share_buckets must be at least 1, got {self.share_buckets}")
        if self.security_protocol not in ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"):
            raise ValueError(
                f"security_protocol must be PLAINTEXT, SASL_PLAINTEXT, SASL_SSL or SSL, got {self.security_protocol!r}"
            )
        if self.security_protocol.startswith("SASL") and not self.sasl_username:
            raise ValueError(f"security_protocol {self.security_protocol} needs a SASL username (and password)")
        if self.list_messages not in ("user", "partition"):
            raise ValueError(f"list_messages must be user or partition, got {self.list_messages!r}")
        if self.processing_guarantee not in ("at_least_once", "exactly_once"):
            raise ValueError(
                f"processing_guarantee must be at_least_once or exactly_once, got {self.processing_guarantee!r}"
            )

    def _sasl_password(self) -> str | None:
        if self.sasl_password or not self.sasl_password_file:
            return self.sasl_password
        try:
            return Path(self.sasl_password_file).read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read the SASL password file {self.sasl_password_file}: {exc}") from None

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.security_protocol.endswith("SSL"):
            return None
        from aiokafka.helpers import create_ssl_context

        return create_ssl_context(cafile=self.ssl_cafile, certfile=self.ssl_certfile, keyfile=self.ssl_keyfile)

    def kafka_python_options(self) -> dict[str, Any]:
        """Security options for kafka-python clients (producer, consumer, admin); empty for PLAINTEXT."""
        options: dict[str, Any] = {}
        if self.security_protocol != "PLAINTEXT":
            options["security_protocol"] = self.security_protocol
        if self.security_protocol.startswith("SASL"):
            options.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self._sasl_password(),
            )
        if self.security_protocol.endswith("SSL"):
            options.update(
                {
                    key: value
                    for key, value in (
                        ("ssl_cafile", self.ssl_cafile),
                        ("ssl_certfile", self.ssl_certfile),
                        ("ssl_keyfile", self.ssl_keyfile),
                    )
                    if value
                }
            )
        return options

    def aiokafka_options(self) -> dict[str, Any]:
        """The same for aiokafka clients (which take an SSL context instead of files)."""
        options = {key: value for key, value in self.kafka_python_options().items() if not key.startswith("ssl_")}
        context = self._ssl_context()
        if context is not None:
            options["ssl_context"] = context
        return options

    def faust_credentials(self) -> Any:
        """faust's ``broker_credentials`` for these settings (None for PLAINTEXT)."""
        import faust

        if self.security_protocol.startswith("SASL"):
            return faust.SASLCredentials(
                username=self.sasl_username,
                password=self._sasl_password(),
                mechanism=self.sasl_mechanism,
                ssl_context=self._ssl_context(),
            )
        if self.security_protocol == "SSL":
            return faust.SSLCredentials(self._ssl_context())
        return None

    def resolved_api_token(self) -> str | None:
        """The API's read token: ``api_token``, else the first line of ``api_token_file``; None only with
        ``insecure_no_auth``. Raises :class:`ApiTokenError` saying what to set otherwise."""
        token = _token(self.api_token, self.api_token_file, "API token")
        if token:
            return token
        if self.insecure_no_auth:
            return None
        raise ApiTokenError(
            "the HTTP API needs a token: set WNNREC_API_TOKEN or --api-token-file (at least 16 "
            "characters), or pass --insecure-no-auth to serve every user's data to anyone who "
            "can reach the port"
        )

    def resolved_erase_token(self) -> str | None:
        """The erase scope's token: ``api_erase_token``, else the first line of ``api_erase_token_file``; None when
        neither is set (the DELETE routes then refuse every request, unless ``insecure_no_auth``). Raises
        :class:`ApiTokenError` for a short or unreadable one, or one equal to the read token."""
        token = _token(self.api_erase_token, self.api_erase_token_file, "API erase token")
        if token and token == self.resolved_api_token():
            raise ApiTokenError("the API erase token must differ from the read token (WNNREC_API_TOKEN)")
        return token

    def to_env(self) -> dict[str, str]:
        """These settings as environment variables (a child worker process reads them back)."""
        return {
            declaration.env: str(getattr(self, name))
            for name, declaration in declarations().items()
            if getattr(self, name) is not None
        }

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def cache_bytes(self) -> int:
        """The live user-network cache's budget in bytes (``cache_mib``)."""
        return int(self.cache_mib * (1 << 20))

    def wnn_config(self) -> WNNConfig:
        """The model's configuration these settings ask for: the per-user window and the rating scale."""
        return WNNConfig(max_pairs=self.max_pairs_per_user, rating_scale=self.rating_scale)

    @property
    def faust_id(self) -> str:
        """The faust app id: the consumer group, and the first part of every changelog topic's name."""
        return self.topic(self.app_id)

    def changelog_topic(self, table: str) -> str:
        """The changelog topic faust keeps for ``table``."""
        return f"{self.faust_id}-{table}-changelog"

    @property
    def ratings_topic(self) -> str:
        return self.topic(RATINGS.name)

    @property
    def recommendations_topic(self) -> str:
        return self.topic(RECOMMENDATIONS.name)

    @property
    def drift_topic(self) -> str:
        return self.topic(DRIFT_METRICS.name)

    @property
    def items_topic(self) -> str:
        """The catalogue topic (stream.catalogue)."""
        return self.topic(ITEMS.name)

    @property
    def dlq_topic(self) -> str:
        return self.topic(DEAD_LETTERS.name)


def _token(value: str | None, path: str | None, what: str) -> str | None:
    """A token given directly, else the first line of the file at ``path``; checked for length."""
    token = value
    if not token and path:
        try:
            token = Path(path).read_text().strip()
        except OSError as exc:
            raise ApiTokenError(f"cannot read the {what} file {path}: {exc}") from None
        if not token:
            raise ApiTokenError(f"the {what} file {path} is empty")
    if token and len(token) < 16:
        raise ApiTokenError(f"the {what} must be at least 16 characters")
    return token or None

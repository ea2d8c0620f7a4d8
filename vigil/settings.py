"""One typed settings object, built once at start-up from ``VIGIL_*`` variables and ``.env``.

It fails fast on a bad value, and secrets (``SecretStr``) never appear in its ``repr``.
Nothing else in Vigil reads the environment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import msgspec
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest.mqtt.source import MqttSettings
from schemas.common import DEVICE_ID_PATTERN
from schemas.scores import Risk
from stream_processors.device import ProcessorSettings
from stream_processors.silence import SilenceSettings
from vigil.kafka_topics import KafkaTopics

if TYPE_CHECKING:
    from storage.sealing import Sealer
    from vigil.dead_letter_valve import ValveLimits
    from vigil.http_edge import EdgeLimits


class TwilioAccount(msgspec.Struct, frozen=True, kw_only=True):
    """What the Twilio sender and webhooks need (the token never in a repr)."""

    account_sid: str
    auth_token: str
    from_number: str
    public_url: str
    api_base: str | None = None

    def __repr__(self) -> str:
        return f"TwilioAccount(account_sid={self.account_sid!r}, auth_token='**********')"


class Settings(BaseSettings):
    """Vigil's configuration; every field can be set as ``VIGIL_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="VIGIL_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str = Field(
        default="sqlite:///vigil-data/vigil.db",
        description="sqlite:///path.db (embedded) or postgresql://user@host/db",
    )

    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Prometheus /metrics on this port (vigil run, api, bridge, worker)",
    )
    metrics_host: str = "127.0.0.1"
    # What the HTTP servers (vigil api, Twilio's callbacks) refuse before their apps see it.
    http_max_body_bytes: int = Field(default=1 << 20, ge=1024, description="larger: 413")
    http_rate_per_s: float = Field(
        default=50.0, ge=0, description="requests a second per client address (0: no limit)"
    )
    http_rate_burst: int = Field(default=200, ge=1, description="requests at once per client")
    # A band sending garbage leaves this many dead letters; the rest are counted only.
    dead_letters_per_minute: float = Field(
        default=60.0, ge=0, description="dead letters kept per topic a minute (0: all)"
    )
    dead_letters_burst: int = Field(default=100, ge=1, description="kept per topic at once")
    log_format: Literal["text", "json"] = "text"  # json: one object per line (log shippers)
    mqtt_tls_ca: str | None = None  # a CA file: TLS to the broker, checked against it
    broker_auth_dir: str = Field(
        default="broker-auth",
        description="vigil devices: the broker identities, Mosquitto's passwd and acl files",
    )
    # Mosquitto's dynamic-security plugin: its admin, for vigil devices to apply identities.
    dynsec_admin_username: str | None = None
    dynsec_admin_password: SecretStr | None = None
    mqtt_client_id: str = "vigil-ingest"
    mqtt_protocol: Literal["5", "3.1.1"] = "5"
    mqtt_session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    mqtt_receive_maximum: int = Field(default=1000, ge=1, le=65535)
    mqtt_queue_size: int = Field(default=2000, ge=1)
    mqtt_shared_group: str | None = None

    ingest_chunk_max: int = Field(default=500, ge=1, le=10_000)
    shards: int = Field(
        default=1, ge=1, le=64, description="device shards of the embedded runner (vigil run)"
    )
    shard_processes: bool = Field(
        default=False, description="run each shard in a child process (uses more cores)"
    )
    shard_queue: int = Field(
        default=2, ge=1, le=100, description="chunks queued per shard before ingest waits"
    )

    profile_refresh_s: float = Field(
        default=30.0, gt=0, description="how often runners re-read changed wearer profiles"
    )

    catch_up_s: float = Field(
        default=30.0,
        ge=0,
        description="after (re)connecting, how long before a band's silence is its own",
    )
    silence_tick_s: float = Field(
        default=15.0, gt=0, description="how often silent bands are checked for signal lost"
    )
    signal_lost_after_s: dict[Risk, float] = Field(
        default_factory=lambda: dict(SilenceSettings().after_s),
        description='silence allowed per NEWS2 risk before "signal lost" (JSON)',
    )

    freshness_s: float = Field(default=300.0, gt=0)
    sustain_s: float = Field(default=120.0, ge=0)
    clear_after_s: float = Field(default=600.0, ge=0)
    flat_after_s: float = Field(
        default=600.0, gt=0, description="a value unchanged this long is flagged flat"
    )
    score_every_s: float = Field(
        default=60.0, ge=0, description="record an unchanged NEWS2 score at most this often"
    )
    lateness_s: float = Field(
        default=10.0, ge=0, description="how far out of device-time order a batch is re-ordered"
    )

    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092", description="host:port of a Kafka broker (bridge, worker)"
    )
    kafka_topic_prefix: str = Field(default="vigil", pattern=r"^[A-Za-z0-9._-]+$")
    kafka_app_id: str = Field(
        default="vigil-worker",
        pattern=r"^[A-Za-z0-9._-]+$",
        description="the workers' consumer group; also names the state changelog topic",
    )
    kafka_partitions: int = Field(default=8, ge=1, le=10_000)
    kafka_declare_topics: bool = Field(
        default=True, description="let the worker create its topics (off for a mock broker)"
    )
    kafka_session_timeout_s: float = Field(default=10.0, gt=0)
    kafka_rebalance_timeout_s: float = Field(default=10.0, gt=0)
    kafka_heartbeat_s: float = Field(default=3.0, gt=0)
    kafka_commit_interval_s: float = Field(
        default=2.8, gt=0, description="how often a worker commits its input offsets"
    )
    kafka_progress_commit_s: float = Field(
        default=1.0,
        gt=0,
        description="how often a worker commits the input offsets its states have applied",
    )
    kafka_checkpoint_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="how often a worker writes its changed device states to the changelog",
    )
    bridge_heartbeat_s: float = Field(
        default=5.0, gt=0, description="how often the bridge tells each partition it is receiving"
    )
    worker_chunk_max: int = Field(default=500, ge=1, le=10_000)

    # The BLE gateway (docs/gateway.md).
    gateway_id: str = Field(
        default="gw-1",
        pattern=DEVICE_ID_PATTERN,
        description="this gateway's id, in its batches and status topic",
    )
    gateway_bands: str = Field(
        default="",
        description="allow-list: address=device_id,...; empty: any band advertising the "
        "Heart Rate or Pulse Oximeter service, its local name as its device id",
    )
    gateway_spool: str = Field(
        default="vigil-gateway-spool.db", description="the store-and-forward file"
    )
    gateway_spool_max: int = Field(default=100_000, ge=1)
    gateway_max_connections: int = Field(default=4, ge=1, le=64)
    gateway_device_zone: str = Field(
        default="UTC", description="the zone the bands' clocks are set to (IANA name)"
    )
    gateway_ble_backend: Literal["platform", "bumble"] = Field(
        default="platform",
        description="bleak's backend: the OS's (BlueZ), or bumble over VIGIL_GATEWAY_HCI",
    )
    gateway_hci: str = Field(
        default="tcp-client:127.0.0.1:7001",
        description="the bumble backend's HCI transport (device_sim/ble_air.py serves one)",
    )

    # The alert ladder's SMS and calls (docs/alerting.md): all four or none (console).
    twilio_account_sid: str | None = Field(default=None, pattern=r"^AC[0-9a-fA-F]{32}$")
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$")
    public_url: str | None = Field(
        default=None,
        description="where Twilio reaches Vigil's webhooks, e.g. https://vigil.example",
    )
    twilio_api_base: str | None = Field(
        default=None, description="send Twilio's REST requests here instead (a local fake Twilio)"
    )
    webhook_host: str = "127.0.0.1"
    webhook_port: int = Field(default=8081, ge=1, le=65535)

    # The API (``vigil api``, consult_bridge/): its bearer tokens' HMAC secret (at least
    # 32 bytes; required to serve or issue tokens), where it listens, token lifetime.
    api_jwt_secret: SecretStr | None = None
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    api_token_ttl_s: float = Field(default=3600.0, gt=0, le=30 * 24 * 3600)
    api_tls_cert: str | None = Field(
        default=None, description="PEM certificate (chain): vigil api serves HTTPS with it"
    )
    api_tls_key: str | None = Field(default=None, description="the certificate's PEM key")
    education_webhook_url: str | None = Field(
        default=None, description="where play links are published (a third-party platform)"
    )
    education_webhook_secret: SecretStr | None = None
    consult_grace_s: float = Field(
        default=900.0, gt=0, description="re-issue a consultation whose doctor missed it by this"
    )
    record_keys: SecretStr | None = Field(
        default=None,
        description="kid:base64key,... (32-byte AES keys, current first) sealing health records",
    )
    audit_key: SecretStr | None = Field(
        default=None, description="the audit log chain's HMAC key (at least 32 bytes)"
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _twilio_all_or_nothing(self) -> Settings:
        given = {
            "VIGIL_TWILIO_ACCOUNT_SID": self.twilio_account_sid,
            "VIGIL_TWILIO_AUTH_TOKEN": self.twilio_auth_token,
            "VIGIL_TWILIO_FROM": self.twilio_from,
            "VIGIL_PUBLIC_URL": self.public_url,
        }
        missing = [name for name, value in given.items() if value is None]
        if 0 < len(missing) < len(given):
            raise ValueError(f"Twilio is half configured: {', '.join(missing)} not set")
        return self

    def dead_letter_limits(self) -> ValveLimits:
        """How many dead letters a topic may leave (``vigil/dead_letter_valve.py``)."""
        from vigil.dead_letter_valve import ValveLimits  # noqa: PLC0415

        return ValveLimits(per_minute=self.dead_letters_per_minute, burst=self.dead_letters_burst)

    def metrics_at(self) -> tuple[str, int] | None:
        """Where to serve Prometheus metrics: (host, port), or None when not asked for."""
        return None if self.metrics_port is None else (self.metrics_host, self.metrics_port)

    def edge_limits(self) -> EdgeLimits:
        """The HTTP servers' limits."""
        from vigil.http_edge import EdgeLimits  # noqa: PLC0415

        return EdgeLimits(
            max_body_bytes=self.http_max_body_bytes,
            rate_per_s=self.http_rate_per_s,
            burst=self.http_rate_burst,
        )

    def api_secret(self) -> str:
        """The API's token secret; ``ValueError`` naming the setting when it is unusable."""
        if self.api_jwt_secret is None:
            raise ValueError("VIGIL_API_JWT_SECRET is not set")
        secret = self.api_jwt_secret.get_secret_value()
        if len(secret.encode()) < 32:
            raise ValueError("VIGIL_API_JWT_SECRET must be at least 32 bytes")
        return secret

    def record_sealer(self) -> Sealer | None:
        """The sealer of health records at rest, or None without keys; ``ValueError``."""
        if self.record_keys is None:
            return None
        from storage.sealing import Sealer, parse_keys  # noqa: PLC0415

        try:
            return Sealer(parse_keys(self.record_keys.get_secret_value()))
        except ValueError as exc:
            raise ValueError(f"VIGIL_RECORD_KEYS: {exc}") from None

    def audit_chain_key(self) -> bytes:
        """The audit chain's key (empty when unset); ``ValueError`` when too short."""
        if self.audit_key is None:
            return b""
        key = self.audit_key.get_secret_value().encode()
        if len(key) < 32:
            raise ValueError("VIGIL_AUDIT_KEY must be at least 32 bytes")
        return key

    def twilio(self) -> TwilioAccount | None:
        """The Twilio account the ladder sends through; None: the console."""
        if (
            self.twilio_account_sid is None
            or self.twilio_auth_token is None
            or self.twilio_from is None
            or self.public_url is None
        ):
            return None
        return TwilioAccount(
            account_sid=self.twilio_account_sid,
            auth_token=self.twilio_auth_token.get_secret_value(),
            from_number=self.twilio_from,
            public_url=self.public_url,
            api_base=self.twilio_api_base,
        )

    def mqtt(self, **overrides: object) -> MqttSettings:
        """The MQTT adapter's settings."""
        values: dict[str, object] = {
            "host": self.mqtt_host,
            "port": self.mqtt_port,
            "username": self.mqtt_username,
            "password": self.mqtt_password.get_secret_value() if self.mqtt_password else None,
            "tls_ca": self.mqtt_tls_ca,
            "client_id": self.mqtt_client_id,
            "protocol": self.mqtt_protocol,
            "session_expiry_s": self.mqtt_session_expiry_s,
            "receive_maximum": self.mqtt_receive_maximum,
            "queue_size": self.mqtt_queue_size,
            "shared_group": self.mqtt_shared_group,
        }
        values.update(overrides)
        return MqttSettings(**values)  # type: ignore[arg-type]

    def kafka_topics(self) -> KafkaTopics:
        """The Kafka tier's topic names."""
        return KafkaTopics(prefix=self.kafka_topic_prefix, app_id=self.kafka_app_id)

    def processor(self) -> ProcessorSettings:
        """The per-device processor's timing rules."""
        return ProcessorSettings(
            freshness_s=self.freshness_s,
            sustain_s=self.sustain_s,
            clear_after_s=self.clear_after_s,
            score_every_s=self.score_every_s,
            flat_after_s=self.flat_after_s,
            lateness_s=self.lateness_s,
            silence=SilenceSettings(after_s=self.signal_lost_after_s),
        )

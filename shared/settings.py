"""Settings shared by every service, read from `LIANJIE_*` environment variables.

Any of them can instead come from a file named by the same variable with `_FILE` appended
(`LIANJIE_PII_KEYS_FILE=/run/secrets/pii_keys`): how Docker and Kubernetes hand over secrets.
A variable set directly wins over its file.
"""

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)


class FileVariables(PydanticBaseSettingsSource):
    """Values read from the files that `<VARIABLE>_FILE` environment variables name."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        prefix = str(self.config.get("env_prefix", ""))
        variable = f"{prefix}{field_name}".upper()
        path = os.environ.get(f"{variable}_FILE")
        if not path:
            return None, field_name, False
        return Path(path).read_text(encoding="utf-8").strip(), field_name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, name)
            if value is not None:
                found[key] = value
        return found


class FileSettings(BaseSettings):
    """Environment variables first, then `<VARIABLE>_FILE` files, then defaults."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            FileVariables(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )


class CommonSettings(FileSettings):
    """Knobs every service reads: where NATS is, how long to wait for it, where files go."""

    model_config = SettingsConfigDict(env_prefix="LIANJIE_", extra="ignore", allow_inf_nan=False)

    nats_url: str = Field(
        "nats://127.0.0.1:4222", description="NATS server URL(s), comma separated"
    )
    nats_user: str | None = Field(None, description="NATS user name of this service")
    nats_password: str | None = Field(None, description="NATS password of this service")
    nats_connect_timeout_s: float = Field(2.0, gt=0, description="One connect attempt's limit")
    nats_reconnect_wait_s: float = Field(0.5, gt=0, description="Pause between reconnects")
    nats_request_timeout_s: float = Field(2.0, gt=0, description="Limit for a request-reply call")
    jetstream_replicas: int = Field(
        1,
        ge=1,
        le=5,
        description="Copies of each JetStream stream this service creates: 1 on one server, "
        "3 on a NATS cluster (survives the loss of a node)",
    )
    retry_after_s: int = Field(5, ge=1, description="Retry-After sent with a 503")
    var_dir: Path = Field(Path("var"), description="Folder for SQLite files and the NATS store")
    log_level: str = Field("INFO", description="Python logging level")
    otel_exporter: Literal["none", "otlp", "console"] = Field(
        "none",
        description="Where OpenTelemetry traces go: nowhere, OTLP over HTTP, or standard output",
    )
    otel_endpoint: str | None = Field(
        None,
        description="OTLP traces URL (e.g. http://collector:4318/v1/traces); default: the "
        "OTEL_EXPORTER_OTLP_* variables",
    )
    pii_keys: SecretStr | None = Field(
        None,
        description="Personal-data encryption keys, `kid:base64,kid2:base64` (32 bytes each); "
        "old keys stay listed so old rows stay readable (docs/personal-data.md)",
    )
    pii_current_key: str | None = Field(
        None, description="Id of the key in LIANJIE_PII_KEYS that encrypts new writes"
    )
    pii_index_key: SecretStr | None = Field(
        None, description="Base64 key of the keyed hash (blind index) of ID numbers and phones"
    )
    auth_public_key_file: Path | None = Field(
        None,
        description="PEM public key that verifies sign-in tokens; required (`lianjie up` sets it)",
    )
    outbox_max_attempts: int = Field(
        8, ge=1, description="Publishes JetStream may refuse before an outbox event is parked"
    )
    outbox_retry_pause_s: float = Field(
        0.25, gt=0, description="First pause before an outbox event is retried (doubles each time)"
    )
    outbox_max_age_s: float = Field(
        60.0, gt=0, description="/readyz says not ready while an unsent outbox event is older"
    )
    shutdown_grace_s: int = Field(
        25,
        ge=1,
        description="On stop (SIGTERM), how long `lianjie serve` lets the requests in flight "
        "finish (a long import still answers) before it cancels them; the outbox drain comes "
        "after it, and the orchestrator's kill time must allow both (docs/deploy.md)",
    )
    outbox_drain_s: float = Field(
        5.0,
        ge=0,
        description="On stop, after the requests' grace period, how long the outbox relay may "
        "keep publishing what is pending (the rest goes out after the next start)",
    )
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest request body accepted (413 beyond)"
    )
    max_import_body_bytes: int = Field(
        33_554_432, ge=1024, description="Largest request body of an import endpoint"
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description='Addresses or networks (JSON list, e.g. ["10.0.0.5", "10.1.0.0/16"]) '
        "of the reverse proxies whose X-Forwarded-For is believed; none by default, so the "
        "client is the peer that connected",
    )
    db_workers: int = Field(
        32,
        ge=1,
        le=256,
        description="Threads that run a service's blocking database work, and PostgreSQL "
        "connections kept open for them: a request waits for the database, not for a thread",
    )
    idempotency_ttl_s: float = Field(
        86_400, gt=0, description="How long a stored Idempotency-Key result is replayed"
    )
    idempotency_purge_interval_s: float = Field(
        600, gt=0, description="How often expired Idempotency-Key results are deleted"
    )


class ServiceSettings(FileSettings):
    """Base for one service's settings; subclasses set `env_prefix` to `LIANJIE_<SERVICE>_`."""

    # A weight or timeout of inf or NaN would only fail later, on every request: refuse at start.
    model_config = SettingsConfigDict(extra="ignore", allow_inf_nan=False)

    service_name: str = "service"
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: a SQLite file under LIANJIE_VAR_DIR"
    )
    common: CommonSettings = Field(default_factory=CommonSettings)

    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded default `sqlite:///<var_dir>/<service>.db`."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.common.var_dir / f'{self.service_name}.db'}"

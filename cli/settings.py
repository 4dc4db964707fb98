"""Settings of the nats-server that `lianjie up` configures (`LIANJIE_JETSTREAM_*`)."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# `always`, or a Go duration as nats-server reads it: `2m`, `30s`, `1m30s`, `500ms`.
SYNC_INTERVAL_PATTERN = r"^(always|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$"


class JetStreamSettings(BaseSettings):
    """How the JetStream store of `lianjie up`'s nats-server (var/nats/nats.conf) keeps data."""

    model_config = SettingsConfigDict(env_prefix="LIANJIE_JETSTREAM_", extra="ignore")

    sync_interval: str = Field(
        "always",
        pattern=SYNC_INTERVAL_PATTERN,
        description="When JetStream fsyncs its store: `always` acknowledges only what is on "
        "disk (a power cut loses no acknowledged event, as deploy/k8s does); an interval such "
        "as `2m` (nats-server's own default) is faster but may lose that much after a crash "
        "of the machine. The bench's `sync` section measures the cost",
    )

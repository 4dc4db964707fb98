"""Settings of the needs service (`LIANJIE_NEEDS_*`)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class NeedsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LIANJIE_NEEDS_", extra="ignore")

    service_name: str = "needs"
    matches_default_k: int = Field(10, ge=1, le=100, description="Matches returned by default")

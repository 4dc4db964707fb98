"""Settings of the resources service (`LIANJIE_RESOURCES_*`)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class ResourcesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LIANJIE_RESOURCES_", extra="ignore")

    service_name: str = "resources"
    page_size_max: int = Field(200, ge=1, description="Largest page a list request may ask for")
    capacity_reset_interval_s: float = Field(
        300.0, gt=0, description="How often to check for capacity periods that have ended"
    )
    reserve_batch_max: int = Field(
        100,
        ge=1,
        le=1000,
        description="Most reserve requests committed in one transaction (they are gathered "
        "while the one before commits; an idle ledger reserves the first at once)",
    )

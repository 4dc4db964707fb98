"""Settings of the console (`LIANJIE_CONSOLE_*`): where the services answer, where the built
browser app lies."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

WEB_DIR = Path(__file__).parent / "web"


class ConsoleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LIANJIE_CONSOLE_", extra="ignore")

    service_name: str = "console"
    needs_url: str = Field("http://127.0.0.1:8001", description="Base URL of the needs service")
    resources_url: str = Field(
        "http://127.0.0.1:8002", description="Base URL of the resources service"
    )
    matcher_url: str = Field("http://127.0.0.1:8003", description="Base URL of the matcher")
    upstream_timeout_s: float = Field(
        15.0, gt=0, description="How long the console waits for a service before answering 503"
    )
    source_address: str | None = Field(
        None,
        description="The local address the console calls the services from (`lianjie up`: "
        "127.0.0.2, the one address the needs service believes X-Forwarded-For from, so "
        "sign-in limits count each browser, not the console)",
    )
    assets_dir: Path | None = Field(
        None,
        description="The built browser app; default services/console/web/dist (`make run` "
        "builds it there)",
    )

    def resolved_assets_dir(self) -> Path:
        return self.assets_dir or WEB_DIR / "dist"

    def upstreams(self) -> dict[str, str]:
        """Which service answers `/api/<name>/…`."""
        return {
            "needs": self.needs_url.rstrip("/"),
            "resources": self.resources_url.rstrip("/"),
            "matcher": self.matcher_url.rstrip("/"),
        }

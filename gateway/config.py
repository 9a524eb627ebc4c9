"""Configuration, read once at start-up and passed down.

Sources, highest priority first: explicit arguments (CLI options), environment variables prefixed `GATEWAY_`
(e.g. `GATEWAY_DATABASE_URL`), a TOML file named by `GATEWAY_CONFIG_FILE` (default `gateway.toml` in the
working directory, if present), then the defaults below. Nothing else in the code base reads the environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_DATA_DIR = Path("gateway-data")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="forbid")

    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR,
        description="Folder for the embedded SQLite database and local keys; created on start.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite:///<data_dir>/gateway.db. PostgreSQL: "
        "postgresql+psycopg://user@host:5432/db",
    )
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="Larger bodies get 413.")
    default_page_size: int = Field(default=20, ge=1)
    max_page_size: int = Field(default=200, ge=1)
    log_level: str = "info"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = Path(os.environ.get("GATEWAY_CONFIG_FILE", "gateway.toml"))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config_file.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gateway.db').resolve()}"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and config file, with explicit `overrides` (None values ignored)."""
    return Settings(**{key: value for key, value in overrides.items() if value is not None})

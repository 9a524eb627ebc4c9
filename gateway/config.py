"""Configuration, read once at start-up and passed down.

Sources, highest priority first: explicit arguments (CLI options), environment variables prefixed `GATEWAY_`
(e.g. `GATEWAY_DATABASE_URL`), a TOML file named by `GATEWAY_CONFIG_FILE` (default `gateway.toml` in the
working directory, if present), then the defaults below. Nothing else in the code base reads the environment.
"""

from __future__ import annotations

import os
import uuid
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
    enforce_referential_integrity: bool = Field(
        default=True, description="Refuse a FHIR write that refers to a resource of this server that does not exist."
    )
    log_level: str = "info"
    directory_file: Path | None = Field(
        default=None,
        description="Recipient directory (YAML/JSON, see gateway/delivery/directory.py); default: "
        "<data_dir>/directory.yaml if present.",
    )
    worker_enabled: bool = Field(default=True, description="Run the delivery worker inside `gateway serve`.")
    delivery_timeout_seconds: float = Field(default=30.0, gt=0, description="Total HTTP timeout per send.")
    delivery_max_attempts: int = Field(default=8, ge=1, description="Attempts before a notice is dead-lettered.")
    delivery_base_delay_seconds: float = Field(default=5.0, gt=0)
    delivery_max_delay_seconds: float = Field(default=900.0, gt=0)
    delivery_lease_seconds: float = Field(
        default=120.0, gt=0, description="How long a claimed notice is reserved; after a crash it is sent again then."
    )
    ack_timeout_seconds: float = Field(default=1800.0, gt=0, description="MedCom: resend after 30 minutes.")
    ack_max_resends: int = Field(default=2, ge=0, description="MedCom: at most two resends.")
    plan_id_namespace: uuid.UUID = Field(
        default=uuid.UUID("5d0c8a52-7d8e-5b6e-9a3c-4b1f0e6b2c11"),
        description="UUID v5 namespace for plan resource ids. Set your own secret value in production: under the "
        "public default a Patient id derived from a CPR number can be reversed by trying every CPR number.",
    )
    insecure_no_auth: bool = Field(
        default=False,
        description="Serve without authentication (refused unless bound to a loopback address; logs a warning).",
    )
    clients_file: Path | None = Field(default=None, description="Client registry; default <data_dir>/clients.yaml")
    jwks_file: Path | None = Field(
        default=None, description="Keys that sign accepted tokens; default: the local key created in <data_dir>/keys"
    )
    token_issuer: str = "urn:careplan-gateway:local"
    token_audience: str = "https://careplan-gateway.example/fhir"
    token_leeway_seconds: int = Field(default=30, ge=0)
    token_lifetime_seconds: int = Field(default=3600, gt=0)
    rate_limit_per_minute: float = Field(default=600, gt=0, description="Per client, unless the registry says else")
    rate_limit_burst: int = Field(default=60, ge=1)
    canonical_base: str = Field(
        default="https://careplan-gateway.example/fhir",
        description="Canonical base of our own CodeSystems, ValueSets and profiles (mappings.plan.PlanContext).",
    )

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

    def effective_directory_file(self) -> Path | None:
        if self.directory_file:
            return self.directory_file
        default = self.data_dir / "directory.yaml"
        return default if default.is_file() else None

    def effective_clients_file(self) -> Path:
        return self.clients_file or self.data_dir / "clients.yaml"

    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gateway.db').resolve()}"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and config file, with explicit `overrides` (None values ignored)."""
    return Settings(**{key: value for key, value in overrides.items() if value is not None})

"""Configuration, read once at start-up and passed down.

Sources, highest priority first: explicit arguments (CLI options), environment variables prefixed `GATEWAY_`
(e.g. `GATEWAY_DATABASE_URL`), a TOML file named by `GATEWAY_CONFIG_FILE` (default `gateway.toml` in the
working directory, if present), then the defaults below. Nothing else in the code base reads the environment.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from mappings.context import PUBLIC_NOTICE_NAMESPACE

DEFAULT_DATA_DIR = Path("gateway-data")
PUBLIC_PLAN_NAMESPACE = uuid.UUID("5d0c8a52-7d8e-5b6e-9a3c-4b1f0e6b2c11")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="forbid")

    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR,
        description="Folder for the embedded SQLite database and local keys; created on start.",
    )
    database_url: str | None = Field(
        default=None,
        description="Database URL; default: sqlite:///<data_dir>/gateway.db. PostgreSQL: "
        "postgresql+psycopg://user@host:5432/db",
    )
    host: str = Field(default="127.0.0.1", description="Bind address of `gateway serve`.")
    port: int = Field(default=8080, description="Port of `gateway serve`.")
    request_threads: int = Field(
        default=32,
        ge=4,
        description="Threads for blocking work (database, validation) per process; the database pool keeps as "
        "many connections open (plus 4 more at peaks).",
    )
    request_concurrency: int = Field(
        default=2,
        ge=1,
        description="Requests whose blocking work (database, validation) runs at once per process; the others wait "
        "their turn in arrival order. Each SQLite or psycopg call releases Python's GIL, so threads running "
        "requests side by side hand it over at every call: on 2 cores, 16 requests at once cost up to twice the "
        "CPU each of one alone (bench/README.md, issue 18). 1 is cheapest for requests alike; 2 lets a short "
        "request pass a long one (a deep `_offset`, a PDF).",
    )
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="Larger bodies get 413.")
    default_page_size: int = Field(default=20, ge=1, description="Search results per page without _count.")
    max_page_size: int = Field(default=200, ge=1, description="The largest _count a search accepts.")
    enforce_referential_integrity: bool = Field(
        default=True, description="Refuse a FHIR write that refers to a resource of this server that does not exist."
    )
    multiple_delete: bool = Field(
        default=False,
        description="A conditional DELETE whose criteria match several of the caller's resources deletes them all "
        "(at most max_page_size) instead of answering 412.",
    )
    log_level: str = Field(default="info", description="debug, info, warning or error.")
    log_format: Literal["text", "json"] = Field(default="text", description="Log lines as text or JSON objects.")
    ready_max_worker_lag_seconds: float = Field(
        default=300.0, gt=0, description="/ready reports the delivery worker as lagging beyond this."
    )
    directory_file: Path | None = Field(
        default=None,
        description="Recipient directory, a YAML or JSON file (example: fixtures/directory.example.yaml); "
        "default: <data_dir>/directory.yaml if present, else none (discharges are refused).",
    )
    intake_processes: int = Field(
        default=2,
        ge=0,
        description="Worker processes that parse inbound messages off the event loop (0: a thread instead).",
    )
    intake_time_budget_seconds: float = Field(
        default=10.0, gt=0, description="Longest an inbound message may take to parse; then it is refused (400)."
    )
    worker_enabled: bool = Field(default=True, description="Run the delivery worker inside `gateway serve`.")
    delivery_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Deadline of one send, answer included (shorter than the delivery lease)."
    )
    delivery_max_attempts: int = Field(default=8, ge=1, description="Attempts before a notice is dead-lettered.")
    delivery_base_delay_seconds: float = Field(default=5.0, gt=0, description="First retry delay; doubles per try.")
    delivery_max_delay_seconds: float = Field(default=900.0, gt=0, description="The longest delay between retries.")
    delivery_lease_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long a claimed notice is reserved (longer than delivery_timeout_seconds); after a crash it "
        "is sent again then.",
    )
    delivery_concurrency: int = Field(
        default=4, ge=1, description="Sends in flight at once, each to another citizen-recipient queue (order kept)."
    )
    delivery_ack_check_seconds: float = Field(
        default=1.0, ge=0, description="How often the worker looks for overdue acknowledgements (0: every round)."
    )
    delivery_kept_consent_decisions: int = Field(
        default=4096, ge=0, description="Consent decisions the worker's gate keeps while no plan changes (0: none)."
    )
    ack_timeout_seconds: float = Field(default=1800.0, gt=0, description="MedCom: resend after 30 minutes.")
    ack_max_resends: int = Field(default=2, ge=0, description="MedCom: at most two resends.")
    xbin01_wait_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="How long an XDIS91 waits for its XBIN01 binaries (and they for it) before it is refused; "
        "MedCom's conversion service waits 60 minutes.",
    )
    plan_id_namespace: uuid.UUID = Field(
        default=PUBLIC_PLAN_NAMESPACE,
        description="UUID v5 namespace for plan resource ids and the notices' MessageHeader ids. Set your own "
        "secret value in production: under the public default a Patient id derived from a CPR number can be "
        "reversed by trying every CPR number, and the id of a notice derived from an HL7 v2 message's MSH-10 "
        "computed (and taken first by another sender's message).",
    )
    insecure_no_auth: bool = Field(
        default=False,
        description="Serve without authentication (refused unless bound to a loopback address; logs a warning).",
    )
    clients_file: Path | None = Field(
        default=None,
        description="Client registry (example: fixtures/clients.example.yaml; `gateway clients add` writes it); "
        "default: <data_dir>/clients.yaml",
    )
    jwks_file: Path | None = Field(
        default=None, description="Keys that sign accepted tokens; default: the local key created in <data_dir>/keys"
    )
    token_issuer: str = Field(default="urn:careplan-gateway:local", description="`iss` every accepted token carries.")
    token_audience: str = Field(
        default="https://careplan-gateway.example/fhir", description="`aud` every accepted token carries."
    )
    token_endpoint: str | None = Field(
        default=None,
        description="Token endpoint of the authorisation server that issues API tokens; with authorize_endpoint, "
        "advertised in the CapabilityStatement's rest.security (SMART oauth-uris extension).",
    )
    authorize_endpoint: str | None = Field(
        default=None,
        description="Authorization endpoint of that server (the SMART oauth-uris extension requires both).",
    )
    token_leeway_seconds: int = Field(default=30, ge=0, description="Clock skew allowed when checking exp and nbf.")
    token_lifetime_seconds: int = Field(default=3600, gt=0, description="Lifetime of `gateway token create` tokens.")
    rate_limit_per_minute: float = Field(default=600, gt=0, description="Per client, unless the registry says else")
    rate_limit_burst: int = Field(default=60, ge=1, description="Requests a client may make at once.")
    auth_failures_per_minute: int = Field(
        default=20, ge=1, description="Failed authentications per source address and minute before 429"
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis for the rate limits and failed-login counts shared by several gateway instances "
        "(e.g. redis://127.0.0.1:6379/0); unset: each process counts on its own.",
    )
    redis_prefix: str = Field(default="gateway:", description="Prefix of this gateway's keys in Redis")
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Proxies whose X-Forwarded-For names the client (the source address of the failed-login limit)",
    )
    canonical_base: str = Field(
        default="https://careplan-gateway.example/fhir",
        description="Canonical base of our own CodeSystems, ValueSets and profiles (mappings.plan.PlanContext).",
    )

    public_url: str | None = Field(
        default=None,
        description="The gateway's address as people reach it (sign-in links, the OpenID Connect redirect); "
        "default http://<host>:<port>.",
    )
    web_sign_in_link_seconds: int = Field(
        default=600, ge=30, description="A printed sign-in link works once, for this long."
    )
    web_session_idle_seconds: int = Field(
        default=900, ge=60, description="A page session ends after this long without a request."
    )
    web_session_max_seconds: int = Field(
        default=8 * 3600, ge=60, description="... and at the latest this long after signing in."
    )
    oidc_issuer: str | None = Field(
        default=None,
        description="OpenID Connect issuer for signing in to the pages (authorization code + PKCE); unset: only "
        "`gateway sign-in-link` links.",
    )
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_scope: str = "openid"
    oidc_cpr_claim: str = Field(
        default="dk:gov:saml:attribute:CprNumberIdentifier",
        description="The ID token claim with a citizen's CPR number (NemLog-in's name for it).",
    )
    oidc_client_claim: str = Field(
        default="careplan_gateway_client",
        description="The ID token claim naming the registered client an organisation's user acts for.",
    )

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> Settings:
        """A send still running when its lease ends is claimed again by another worker and sent twice."""
        if self.delivery_lease_seconds <= self.delivery_timeout_seconds:
            raise ValueError(
                f"delivery_lease_seconds ({self.delivery_lease_seconds:g}) must be longer than "
                f"delivery_timeout_seconds ({self.delivery_timeout_seconds:g}), the deadline of one send: a notice "
                "whose send outlasts its lease is sent again by another worker"
            )
        return self

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

    def effective_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def header_namespace(self) -> uuid.UUID:
        """The namespace of the notices' derived `MessageHeader.id`s (`MappingContext.header_namespace`): the public
        one under the public plan id namespace (the ids MedCom's examples and the tests know), else one derived
        from the secret plan id namespace, so one secret keeps both kinds of derived id out of reach."""
        if self.plan_id_namespace == PUBLIC_PLAN_NAMESPACE:
            return PUBLIC_NOTICE_NAMESPACE
        return uuid.uuid5(self.plan_id_namespace, "urn:careplan-gateway:message-header-ids")

    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gateway.db').resolve()}"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and config file, with explicit `overrides` (None values ignored)."""
    return Settings(**{key: value for key, value in overrides.items() if value is not None})

"""The intake `gateway convert` previews with: what the service would use, where it exists, and never a write.

- **Directory**: `--directory FILE`, else the configured one (`GATEWAY_DIRECTORY_FILE`, or `directory.yaml` in the
  data folder) when the file exists, else `OfflineDirectory` (recipients by identifier, endpoints unknown).
- **Plan**: `--plan FILE` (a plan document), else the gateway's database when there is one, else none.
- **History** of a stay (earlier HospitalNotifications): the database's outbox when there is one, read only.
The database is opened only if it already exists, and is never migrated or written: converting an input the
service took in before shows the same notices again (`IntakeService._history` skips the input's own notice).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from gateway.clock import Clock, IdSource
from gateway.config import Settings
from gateway.delivery.directory import RecipientDirectory
from gateway.delivery.outbox_sql import SqlOutbox
from gateway.fhir.access import OPEN, Access
from gateway.fhir.interactions import FhirService, Paging
from gateway.inbound import Limits
from gateway.services.intake import IntakeService, NoticeCheck
from gateway.services.offline import FilePlans, OfflineDirectory
from gateway.services.planning import Directory, PlanSource
from gateway.services.plans import PlanService, StoredPlan
from gateway.store import tables as t
from gateway.store.database import make_engine
from gateway.store.sql import SqlResourceStore
from mappings.plan import PlanContext


class NoPlans:
    """No plan anywhere: the citizen's home municipality is unknown (intake says so)."""

    def current_plan_for(self, cpr: str, access: Access = OPEN) -> StoredPlan | None:
        return None


def existing_database(settings: Settings) -> Engine | None:
    """The gateway's database if it exists with its tables, else `None` (nothing is created or migrated)."""
    url = settings.effective_database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or not Path(database).is_file():
            return None
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(select(t.outbox_notice.c.id).limit(1))
    except SQLAlchemyError:
        engine.dispose()
        return None
    return engine


def preview_directory(settings: Settings, directory_file: Path | None) -> Directory:
    path = directory_file or settings.effective_directory_file()
    if path is None or not path.is_file():
        if directory_file is not None:
            return RecipientDirectory.from_file(directory_file)  # names the missing file
        return OfflineDirectory()
    return RecipientDirectory.from_file(path)


def preview_intake(
    settings: Settings,
    clock: Clock,
    ids: IdSource,
    check: NoticeCheck | None,
    *,
    plan_file: Path | None = None,
    directory_file: Path | None = None,
) -> IntakeService:
    """An intake that can only preview (no outbox writes, no holding area), wired as the module docstring says."""
    context = PlanContext(base=settings.canonical_base, id_namespace=settings.plan_id_namespace)
    engine = existing_database(settings)
    plans: PlanSource = NoPlans()
    if plan_file is not None:
        plans = FilePlans(plan_file, context)
    elif engine is not None:
        fhir = FhirService(
            SqlResourceStore(engine, clock), clock, ids, Paging(settings.default_page_size, settings.max_page_size)
        )
        plans = PlanService(fhir, context)
    directory = preview_directory(settings, directory_file)
    return IntakeService(
        plans,
        SqlOutbox(engine) if engine is not None else None,
        lambda: directory,
        clock,
        ids,
        limits=Limits(max_bytes=settings.max_body_bytes),
        check=check,
        citizen_namespace=settings.plan_id_namespace,
        preview_only=True,
        header_namespace=settings.header_namespace(),
    )

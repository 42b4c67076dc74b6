"""What the Datasets page shows, and how its registration form becomes the admin API's
request.

Guarantees: a dataset is shown as the admin API's ``view`` shows it (the location of a
SQL source without its password, never a row of data); its drift warning is the drift
check a job's use would run (``DatasetService.check_drift``), so the page warns of
exactly what would refuse a job; "who may use it" is read from the permits this node
granted (only counts and limits: a permit's token is never read, only its hash is
kept). The form is validated by the admin API's own model (``DatasetRegistration``), so
the page accepts exactly what ``POST /admin/v1/datasets`` accepts, and every refusal is
tied to the field it names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from isthmus.node.api.management import DatasetRegistration
from isthmus.node.context import NodeContext
from isthmus.store.schema import AuditRow, PermitRow
from isthmus.wire.errors import IsthmusError, NotFound, StateConflict
from isthmus.wire.management import AuditStatus
from isthmus.wire.mprac import ResourceType

#: The registration form's fields, in the order the page shows them.
FORM_FIELDS = (
    "namespace",
    "name",
    "source",
    "location",
    "table",
    "join_columns",
    "label_columns",
    "description",
    "category",
    "column_descriptions",
    "public",
)
#: Where an error naming no field of the form is shown.
GENERAL = "_form"


@dataclass(frozen=True)
class Grantee:
    """A partner that may use a dataset, through one permit."""

    partner: str
    audit_id: str
    via: str  # "dataset", "project" or "standing"
    times_used: int
    times_limit: int
    time_limit: int
    state: str  # see ``permit_state``


@dataclass
class DatasetEntry:
    view: dict[str, Any]
    drift: str | None = None
    grantees: list[Grantee] = field(default_factory=list)
    pending: int = 0


def permit_state(row: PermitRow, now: int) -> str:
    """``active``, ``revoked``, ``expired`` or ``used_up``: whether the permit still
    works, in the order ``PermitRepository.check_row`` refuses."""
    if row.revoked:
        return "revoked"
    if 0 <= row.time_limit <= now:
        return "expired"
    if 0 <= row.times_limit <= row.times_used:
        return "used_up"
    return "active"


def drift_of(ctx: NodeContext, dataset_id: str) -> str | None:
    """Why a job would refuse the dataset now (its source changed, is gone, or may no
    longer be read), or ``None`` when it matches its registration."""
    row = ctx.datasets.get(dataset_id)
    if row is None:
        return None
    try:
        ctx.datasets.check_drift(row)
    except IsthmusError as exc:
        return exc.message
    return None


def _grantees(ctx: NodeContext, dataset_id: str, now: int) -> tuple[list[Grantee], int]:
    with ctx.store.session() as s:
        permits = s.query(PermitRow).order_by(PermitRow.created_at).all()
        inbound = s.query(AuditRow).filter_by(direction="INBOUND").all()
        projects = {
            r.audit_id: r
            for r in inbound
            if r.resource_type == ResourceType.PROJECT.value and _lists(r, dataset_id)
        }
        pending = sum(
            1
            for r in inbound
            if r.status == AuditStatus.APPLIED
            and (r.resource_type, r.resource_id) == (ResourceType.DATASET.value, dataset_id)
        )
        found: list[Grantee] = []
        for p in permits:
            direct = (p.resource_type, p.resource_id) == (ResourceType.DATASET.value, dataset_id)
            if not direct and p.audit_id not in projects:
                continue
            via = "standing" if p.standing else ("dataset" if direct else "project")
            found.append(
                Grantee(
                    partner=p.request_node_id,
                    audit_id=p.audit_id,
                    via=via,
                    times_used=p.times_used,
                    times_limit=p.times_limit,
                    time_limit=p.time_limit,
                    state=permit_state(p, now),
                )
            )
    return found, pending


def _lists(project: AuditRow, dataset_id: str) -> bool:
    listed = json.loads(project.request).get("datasets", [])
    return dataset_id in {str(d.get("dataset_id")) for d in listed}


def dataset_entries(ctx: NodeContext, now: int) -> list[DatasetEntry]:
    """Every dataset of this node with its drift warning and who may use it."""
    entries = []
    for row in ctx.datasets.list():
        grantees, pending = _grantees(ctx, row.dataset_id, now)
        entries.append(
            DatasetEntry(
                view=ctx.datasets.view(row),
                drift=drift_of(ctx, row.dataset_id),
                grantees=grantees,
                pending=pending,
            )
        )
    return entries


# --- the registration form ----------------------------------------------------------------


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]


def _descriptions(value: str) -> dict[str, str] | str:
    """``column: description`` a line; the line that is not, as an error."""
    found: dict[str, str] = {}
    for number, line in enumerate(value.splitlines(), start=1):
        if not line.strip():
            continue
        column, sep, text = line.partition(":")
        if not sep or not column.strip():
            return f"line {number}: write 'column: description'"
        found[column.strip()] = text.strip()
    return found


def registration_body(form: Mapping[str, str]) -> dict[str, Any]:
    """The admin API's request body built from the form (what the CLI builds from its
    options), column descriptions apart."""
    return {
        "namespace": form.get("namespace", "").strip(),
        "name": form.get("name", "").strip(),
        "source": form.get("source", "").strip(),
        "location": form.get("location", "").strip(),
        "table": form.get("table", "").strip(),
        "description": form.get("description", ""),
        "category": form.get("category", "").strip(),
        "join_columns": _split(form.get("join_columns", "")),
        "label_columns": _split(form.get("label_columns", "")),
        "public": form.get("public", "") in ("on", "true", "1"),
    }


def parse_registration(
    form: Mapping[str, str],
) -> tuple[DatasetRegistration | None, dict[str, str]]:
    """The form as the admin API's model reads it, or the errors by field."""
    body = registration_body(form)
    descriptions = _descriptions(form.get("column_descriptions", ""))
    if isinstance(descriptions, str):
        return None, {"column_descriptions": descriptions}
    body["column_descriptions"] = descriptions
    try:
        return DatasetRegistration.model_validate(body), {}
    except ValidationError as exc:
        return None, pydantic_errors(exc)


def pydantic_errors(exc: ValidationError) -> dict[str, str]:
    """One message per field the model refused (the first, when several)."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = error.get("loc") or ()
        name = str(loc[0]) if loc and str(loc[0]) in FORM_FIELDS else GENERAL
        errors.setdefault(name, str(error.get("msg", "invalid")))
    return errors


def service_error(exc: IsthmusError) -> dict[str, str]:
    """A refusal of the service tied to the field it names: its messages start with
    ``<field>:``; a missing file is the location's, a taken id the name's."""
    head, sep, rest = exc.message.partition(":")
    if sep and head.strip() in FORM_FIELDS:
        return {head.strip(): rest.strip()}
    if isinstance(exc, NotFound):
        return {"location": exc.message}
    if isinstance(exc, StateConflict):
        return {"name": exc.message}
    return {GENERAL: exc.message}

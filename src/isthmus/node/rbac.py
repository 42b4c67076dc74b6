"""Who may do what on the admin API: principals, roles, and one policy table.

Four roles, with duties kept apart:

* ``admin``: the node itself: tokens, contracts with partners, components, transport
  sessions, the outbox, the doctor;
* ``operator``: the work: datasets, requests for partners' resources (and requests for
  standing grants to partners), jobs;
* ``approver``: decisions on requests for this node's resources, and their revocation;
  never on a request they made themselves;
* ``auditor``: the audit log (nobody else reads it).

Every principal reads the rest (lists, statuses). A principal is a named bearer token
(``api_tokens``, only its hash kept), or ``root``: the token in ``DIR/admin.token``,
created at ``init``, which holds every role. Root is for setting a node up and for
break-glass; day to day, each person and each automation gets its own token with the
roles it needs, so the audit log names who did what.

The policy is a table of (method, route template) → roles, checked in one dependency.
A GET missing from it is open to every role (lists and statuses); any other method
missing from it is ``admin``-only, so a new write is closed until listed.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from isthmus.crypto.digests import token_digest
from isthmus.store.db import Store
from isthmus.store.schema import ApiTokenRow
from isthmus.wire import paths
from isthmus.wire.clock import now_ms
from isthmus.wire.errors import (
    AdminUnauthorized,
    Forbidden,
    NotFound,
    StateConflict,
    ValidationFailed,
)

ADMIN, OPERATOR, APPROVER, AUDITOR = "admin", "operator", "approver", "auditor"
ROLES = (ADMIN, OPERATOR, APPROVER, AUDITOR)
ANY = frozenset(ROLES)
ROOT = "root"
TOKEN_PREFIX = "isk_"  # noqa: S105 - a prefix, not a secret

#: (method, route template) → the roles allowed. Reads not listed here fall to ANY
#: when they are GETs of lists and statuses (``_READS``).
POLICY: dict[tuple[str, str], frozenset[str]] = {
    # the audit log: auditors only
    ("GET", paths.ADMIN_AUDIT): frozenset({AUDITOR}),
    ("GET", paths.ADMIN_AUDIT_VERIFY): frozenset({AUDITOR}),
    ("GET", paths.ADMIN_AUDIT_EXPORT): frozenset({AUDITOR}),
    # tokens, contracts, components, transport, outbox, doctor: admin
    ("GET", paths.ADMIN_TOKENS): frozenset({ADMIN}),
    ("POST", paths.ADMIN_TOKENS): frozenset({ADMIN}),
    ("POST", paths.ADMIN_TOKEN_REVOKE): frozenset({ADMIN}),
    ("GET", paths.ADMIN_TEE_ACCESS_KEYS): frozenset({ADMIN}),  # POSTs: admin by default
    ("GET", paths.ADMIN_OUTBOX): frozenset({ADMIN}),
    ("GET", paths.ADMIN_DOCTOR): frozenset({ADMIN}),
    # datasets and requests to partners: operators
    ("POST", paths.ADMIN_DATASETS): frozenset({OPERATOR}),
    ("POST", paths.ADMIN_DATASET_REMOVE): frozenset({OPERATOR}),
    ("POST", paths.ADMIN_APPROVAL_APPLY): frozenset({OPERATOR}),
    ("POST", paths.ADMIN_APPROVAL_GRANT): frozenset({OPERATOR}),
    ("POST", paths.ADMIN_APPROVAL_SYNC): frozenset({OPERATOR}),
    ("GET", paths.ADMIN_PARTNER_DATASETS): frozenset({OPERATOR}),
    # what a partner publishes to build jobs with: operators, and admins (its contract)
    ("GET", paths.ADMIN_PARTNER_COMPONENTS): frozenset({ADMIN, OPERATOR}),
    # decisions on our resources: approvers
    ("POST", paths.ADMIN_APPROVAL_APPROVE): frozenset({APPROVER}),
    ("POST", paths.ADMIN_APPROVAL_REJECT): frozenset({APPROVER}),
    ("POST", paths.ADMIN_APPROVAL_TERMINATE): frozenset({APPROVER, OPERATOR}),
    # jobs: operators run them
    ("POST", paths.PLATFORM_JOB_CREATE_ALL): frozenset({OPERATOR}),
    ("POST", paths.PLATFORM_JOB_STOP_ALL): frozenset({OPERATOR}),
    ("POST", paths.PLATFORM_JOB_STOP_TASK): frozenset({OPERATOR}),
    ("POST", paths.PLATFORM_JOB_STATUS_ALL): ANY,
    ("POST", paths.PLATFORM_JOB_WHY): ANY,
    # a task's outputs show data rows: operators only, not every reader
    ("GET", paths.ADMIN_JOB_OUTPUTS): frozenset({OPERATOR}),
    # the secure operator service: operators compute (and see results); all may list
    ("POST", paths.SECOP_EXECUTE): frozenset({OPERATOR}),
    ("POST", paths.SECOP_KILL): frozenset({OPERATOR}),
    ("POST", paths.SECOP_QUERY): frozenset({OPERATOR}),
    ("POST", paths.SECOP_EXPRESSIONS): ANY,
}


@dataclass(frozen=True)
class Principal:
    name: str
    roles: frozenset[str]

    def may(self, allowed: frozenset[str]) -> bool:
        return bool(self.roles & allowed)


def actor_of(request: Request) -> str:
    """Who the audit log names for an admin action: the token behind the call
    (``token:root`` for ``DIR/admin.token``, ``token:<name>`` for a named token), and
    nothing the caller could choose (a name in a header is only the caller's word, so
    none is read). Self-approval checks compare these names, i.e. token identities.
    Every route that writes depends on the admin app's ``authorised``, which sets the
    principal; without one there is no actor to name."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raise AdminUnauthorized("admin API: no authenticated token behind this call")
    return f"token:{principal.name}"


def allowed_roles(method: str, route: str) -> frozenset[str]:
    listed = POLICY.get((method, route))
    if listed is not None:
        return listed
    if method in ("GET", "HEAD"):
        return ANY  # lists and statuses; the audit log is listed above
    return frozenset({ADMIN})


class Principals:
    def __init__(self, store: Store, root_token: str) -> None:
        self.store = store
        self.root_token = root_token

    def resolve(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise AdminUnauthorized("admin API: missing bearer token")
        token = authorization[7:].strip()
        if hmac.compare_digest(token.encode(), self.root_token.encode()):
            return Principal(ROOT, ANY)
        if not token.startswith(TOKEN_PREFIX):
            raise AdminUnauthorized("admin API: wrong token")
        with self.store.session() as s:
            row = s.query(ApiTokenRow).filter_by(token_sha256=token_digest(token)).one_or_none()
            if row is None or row.revoked_at is not None:
                raise AdminUnauthorized("admin API: wrong or revoked token")
            stamp = now_ms()
            if row.last_used_at is None or stamp - row.last_used_at > 60_000:
                row.last_used_at = stamp  # to the minute: a status poll is not a write
            return Principal(row.name, frozenset(row.roles.split(",")))

    def create(self, name: str, roles: list[str], *, service: bool, actor: str) -> dict[str, Any]:
        unknown = sorted(set(roles) - set(ROLES))
        if unknown or not roles:
            raise ValidationFailed(f"roles: each one of {list(ROLES)} (got {roles})")
        if name == ROOT or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ValidationFailed("name: letters, digits, '-', '_', '.'; not 'root'")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.store.session() as s:
            if s.get(ApiTokenRow, name) is not None:
                raise StateConflict(f"a token named {name} exists")
            row = ApiTokenRow(
                name=name,
                token_sha256=token_digest(token),
                roles=",".join(sorted(set(roles))),
                service=service,
                created_by=actor,
                created_at=now_ms(),
            )
            s.add(row)
            self.store.audit.append(
                s,
                actor=actor,
                action="token.created",
                subject=name,
                outcome="ok",
                details={"roles": row.roles, "service": service},
            )
            return {**_view(row), "token": token}  # shown once, never again

    def list(self) -> list[dict[str, Any]]:
        with self.store.session() as s:
            return [_view(r) for r in s.query(ApiTokenRow).order_by(ApiTokenRow.name).all()]

    def revoke(self, name: str, *, actor: str) -> dict[str, Any]:
        with self.store.session() as s:
            row = s.get(ApiTokenRow, name)
            if row is None:
                raise NotFound(f"no token named {name}")
            if row.revoked_at is None:
                row.revoked_at = now_ms()
                self.store.audit.append(
                    s, actor=actor, action="token.revoked", subject=name, outcome="ok", details={}
                )
            return _view(row)


def check(principal: Principal, method: str, route: str) -> None:
    allowed = allowed_roles(method, route)
    if not principal.may(allowed):
        raise Forbidden(
            f"{principal.name} ({', '.join(sorted(principal.roles))}) may not {method} {route}:"
            f" it takes {' or '.join(sorted(allowed))}"
        )


def _view(row: ApiTokenRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "roles": row.roles.split(","),
        "service": row.service,
        "created_by": row.created_by,
        "created_at": row.created_at,
        "revoked_at": row.revoked_at,
        "last_used_at": row.last_used_at,
    }

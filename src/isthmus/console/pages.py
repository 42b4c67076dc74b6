"""The console's pages: the navigation, and the routers ``mount`` includes.

``NAV`` lists all eight pages in menu order; each entry names the admin API read it
shows, so the menu offers a page only to a principal the policy lets read it (the
audit trail: auditors). ``ROUTERS`` holds one ``APIRouter`` per module of
``console.routes``: each module in ``MODULES`` that exists is imported and its
module-level ``router`` appended, so a page is added by writing its module (a module
may also append its router itself: ``mount`` includes each router once).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from fastapi import APIRouter

from isthmus.wire import paths


@dataclass(frozen=True)
class NavItem:
    key: str  # i18n key of the label: "nav.<key>"
    href: str
    read_route: str  # the admin API GET this page shows (who may see the menu entry)


NAV: tuple[NavItem, ...] = (
    NavItem("overview", "/console/", paths.ADMIN_NODE),
    NavItem("partners", "/console/partners", paths.ADMIN_CONTRACTS),
    NavItem("transport", "/console/transport", paths.ADMIN_TRANSPORT_SESSIONS),
    NavItem("datasets", "/console/datasets", paths.ADMIN_DATASETS),
    NavItem("approvals", "/console/approvals", paths.ADMIN_APPROVALS),
    NavItem("jobs", "/console/jobs", paths.ADMIN_JOBS),
    NavItem("models", "/console/models", paths.ADMIN_JOBS),
    NavItem("audit", "/console/audit", paths.ADMIN_AUDIT),
)

MODULES = (
    "auth",
    "overview",
    "partners",
    "transport",
    "datasets",
    "approvals",
    "jobs",
    "models",
    "audit",
)

ROUTERS: list[APIRouter] = []


def _load() -> None:
    for name in MODULES:
        module_name = f"isthmus.console.routes.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue  # a page not written yet: its menu entry leads to a 404
        router = importlib.import_module(module_name).router
        if all(router is not r for r in ROUTERS):
            ROUTERS.append(router)


_load()

"""The console's menu: the eight pages in order, each with the admin API read it shows.

A menu entry is offered only to a principal the policy table lets read that route (the
audit trail: auditors), so the menu never shows a page its reader would be refused.
Kept apart from the routes (``pages``) because every page's template renders the menu:
the routes import this, never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass

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

"""The routers ``mount`` includes: one ``APIRouter`` per module of ``console.routes``.

Each page is a module of route handlers at module level; this list is the one place
that names them, so a page missing here is not served.
"""

from __future__ import annotations

from fastapi import APIRouter

from isthmus.console.routes import (
    approvals,
    audit,
    auth,
    datasets,
    jobs,
    models,
    overview,
    partners,
    transport,
)

ROUTERS: tuple[APIRouter, ...] = tuple(
    module.router
    for module in (auth, overview, partners, transport, datasets, approvals, jobs, models, audit)
)

"""The north-south app: local operators, the CLI and monitoring.

Assembly only: each plane's routes live in its module of ``isthmus.node.api``. Bound
to loopback by default. Every route but health, readiness and metrics (for probes and
scrapers: ``api.operations.probes``) needs a bearer token: the root token in
``DIR/admin.token`` or a named one, whose roles ``rbac`` checks against the route
(``api.deps.authorised``). Replies use the same BFIA envelope as the interconn app, so
one client decodes both.
"""

from __future__ import annotations

from fastapi import FastAPI

from isthmus import __version__
from isthmus.node.api import contracts, management, operations, schedule, secure_operate, tee
from isthmus.node.api.transport import routes as transport_routes
from isthmus.node.context import NodeContext
from isthmus.node.http import BodyLimitMiddleware, TraceMiddleware, install_error_handlers
from isthmus.wire import paths

#: The admin API's bodies are small (registrations, decisions, job DAGs).
ADMIN_MAX_BODY_BYTES = 1024 * 1024


def create_admin_app(ctx: NodeContext) -> FastAPI:
    app = FastAPI(
        title=f"Isthmus admin API ({ctx.node_id})",
        version=__version__,
        description="North-south API for the node's own operators and the CLI.",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.ctx = ctx
    install_error_handlers(app)
    app.include_router(operations.probes)
    app.include_router(operations.north_south)
    app.include_router(contracts.north_south)
    app.include_router(transport_routes.north_south)
    app.include_router(schedule.north_south)
    app.include_router(management.north_south)
    app.include_router(secure_operate.north_south)
    app.include_router(tee.north_south)
    larger = {paths.SECURE_OPERATE + "/": ctx.config.secure_operate.max_body_bytes}
    app.add_middleware(BodyLimitMiddleware, max_bytes=ADMIN_MAX_BODY_BYTES, larger=larger)
    app.add_middleware(TraceMiddleware, app_name="admin", metrics=ctx.metrics)
    return app

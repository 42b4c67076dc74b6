"""``isthmus``: set up a node, run it, manage its partners, check its audit log.

Every command prints a human table by default and one JSON document with ``--json``.
Exit codes: 0 success, 1 the node or a partner refused or failed, 2 bad usage.

This module only assembles: each command group lives in its own module (``cli/<group>.py``),
the helpers they share in ``cli/common.py``. ``app`` is the entry point that
``[project.scripts]`` names."""

from __future__ import annotations

import typer

from isthmus.cli.approval import approval_app
from isthmus.cli.audit import audit_app
from isthmus.cli.component import component_app
from isthmus.cli.conformance import conformance_app
from isthmus.cli.console import console
from isthmus.cli.dataset import dataset_app
from isthmus.cli.job import job_app
from isthmus.cli.job_template import job_template
from isthmus.cli.node import doctor, init, node_app, version
from isthmus.cli.operate import operate_app
from isthmus.cli.peer import peer_app
from isthmus.cli.tee import tee_app
from isthmus.cli.token import token_app

app = typer.Typer(
    help="Isthmus: a BFIA interconnection node.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(node_app, name="node")
app.add_typer(peer_app, name="peer")
app.add_typer(audit_app, name="audit")
app.add_typer(component_app, name="component")
app.add_typer(job_app, name="job")
job_app.command("template")(job_template)
app.add_typer(dataset_app, name="dataset")
app.add_typer(approval_app, name="approval")
app.add_typer(token_app, name="token")
app.add_typer(operate_app, name="operate")
app.add_typer(tee_app, name="tee")
app.add_typer(conformance_app, name="conformance")
app.command()(version)
app.command()(init)
app.command()(doctor)
app.command()(console)


def main() -> None:
    app()


if __name__ == "__main__":
    main()

"""``isthmus conformance``: check a node of any platform against the BFIA interfaces.

* ``run``: play the partner against a target described in a TOML/JSON file and write
  ``report.json`` (signed), ``report.xml`` (JUnit) and ``report.html`` into ``--out``.
  Exit 0 when no check failed or errored and the set-up (the contract, when a check
  needed one) did not fail, 1 otherwise, 2 for bad usage. ``--dry-run``
  prints what each check would send and sends nothing: not even the contract apply.
* ``verify``: check a report's signature (exit 0 and a summary; 1 when it was changed).
* ``list``: the kit's checks with their part and spec section.

The kit speaks and signs as the node of ``--home`` (its key and node id; that node need
not run) or, without it, as a fresh identity made for the run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from isthmus.cli.common import AsJson, emit, err, fail, out, print_table
from isthmus.conformance import identity, runner
from isthmus.conformance.catalogue import all_checks
from isthmus.conformance.model import Outcome, Part, Target
from isthmus.conformance.outputs import write_reports
from isthmus.conformance.registry import select
from isthmus.conformance.report import Report
from isthmus.conformance.signing import verify_report
from isthmus.wire.errors import IsthmusError, ReportSignatureInvalid

conformance_app = typer.Typer(
    help="The BFIA conformance kit: check any node against the interfaces.",
    no_args_is_help=True,
)


def _target(path: Path, address: str | None, contract_id: str | None, rate: float | None) -> Target:
    try:
        target = Target.load(path)
    except OSError as exc:
        raise fail(f"cannot read the target file {path}: {exc}", 2) from exc
    except (ValueError, ValidationError) as exc:
        raise fail(f"{path} is not a target description: {exc}", 2) from exc
    update: dict[str, Any] = {}
    if address:
        update["address"] = address
    if contract_id:
        update["contract_id"] = contract_id
    if rate is not None:
        update["rate_per_s"] = rate
    try:
        return Target.model_validate({**target.model_dump(), **update}) if update else target
    except ValidationError as exc:
        raise fail(f"bad option: {exc}", 2) from exc


def _listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise fail(f"--listen wants HOST:PORT, got {value!r}", 2)
    return host, int(port)


def _print_plan(target: Target, parts: list[Part] | None, patterns: list[str]) -> None:
    chosen = select(all_checks(), parts, patterns)
    out.print(f"Dry run against {target.node_id} at {target.address}: nothing is sent.")
    for c in chosen:
        claimed = c.part in target.claims
        flag = " (changes state, under its own ids, cleaned up)" if c.mutates else ""
        status = "" if claimed else "  [not claimed: skipped]"
        line = f"\n{c.check_id}  {c.section}  {c.title}{flag}{status}"
        out.print(line, highlight=False, markup=False)
        for line in c.plan:
            out.print(f"    {line}", highlight=False, markup=False)
    out.print(f"\n{len(chosen)} checks.")


def _summary_rows(report: Report) -> list[list[Any]]:
    rows = []
    for part, counts in report.summary.items():
        if sum(counts.values()):
            rows.append([part.value, *(counts[o] for o in Outcome)])
    return rows


@conformance_app.command("run")
def run_command(
    target_file: Annotated[
        Path, typer.Option("--target", "-t", help="The target description (TOML or JSON).")
    ],
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            "-H",
            help="Speak and sign as this node home (default: a fresh identity for the run).",
        ),
    ] = None,
    part: Annotated[
        list[Part] | None, typer.Option("--part", "-p", help="Only this part (repeatable).")
    ] = None,
    pattern: Annotated[
        list[str] | None,
        typer.Option("-k", help="Only checks whose id contains this or matches this glob."),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Where report.json/.xml/.html go.")
    ] = Path("conformance-report"),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what each check would send; send nothing.")
    ] = False,
    rate: Annotated[
        float | None, typer.Option("--rate", help="At most this many requests a second.")
    ] = None,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Skip every check that creates state.")
    ] = False,
    listen: Annotated[
        str, typer.Option("--listen", help="HOST:PORT of the kit's listener.")
    ] = "127.0.0.1:0",
    advertise: Annotated[
        str | None,
        typer.Option("--advertise", help="The listener's address as the target reaches it."),
    ] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="Override the target file's address.")
    ] = None,
    contract_id: Annotated[
        str | None, typer.Option("--contract-id", help="Use this approved contract.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Run the checks against a target and write the reports."""
    if rate is not None and rate <= 0:
        raise fail("--rate must be positive", 2)
    target = _target(target_file, address, contract_id, rate)
    patterns = list(pattern or [])
    if dry_run:
        _print_plan(target, part, patterns)
        return
    try:
        kit = identity.from_home(home) if home is not None else identity.ephemeral()
    except IsthmusError as exc:
        raise fail(f"--home {home}: {exc.message}", 2) from exc
    host, port = _listen(listen)
    options = runner.RunOptions(listen_host=host, listen_port=port, advertise=advertise)

    async def waiting(contract_id: str) -> None:
        err.print(
            f"applied for contract {contract_id} at {target.node_id}: waiting up to "
            f"{target.approval_timeout_s:g} s for its operator to approve",
            highlight=False,
        )

    report = asyncio.run(
        runner.run(
            target,
            kit,
            parts=part,
            patterns=patterns,
            allow_mutating=not read_only,
            approve=waiting,
            options=options,
        )
    )
    written = write_reports(report, out_dir, kit.identity)
    if as_json:
        emit({"ok": report.ok, "report": str(written.json), "sha256": written.sha256}, True)
    else:
        print_table(
            f"Conformance of {target.node_id}",
            ["part", *(o.value for o in Outcome)],
            _summary_rows(report),
        )
        if report.setup_error:
            err.print(f"set-up: {report.setup_error}", highlight=False, markup=False)
        for r in report.results:
            if r.outcome in (Outcome.FAIL, Outcome.ERROR):
                out.print(
                    f"{r.outcome.value}: {r.check_id} ({r.section}): {r.reason}",
                    highlight=False,
                    markup=False,
                )
        out.print(
            f"reports: {written.json} (sha256 {written.sha256}), {written.xml}, {written.html}",
            highlight=False,
        )
    if not report.ok:
        raise typer.Exit(1)


@conformance_app.command("verify")
def verify_command(
    report_file: Annotated[Path, typer.Argument(help="A report.json written by `run`.")],
    key: Annotated[
        Path | None,
        typer.Option("--key", help="PEM of the public key the report must be signed with."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Check a report's signature; print who signed it and its summary."""
    try:
        trusted = key.read_text(encoding="ascii") if key is not None else None
        verified = verify_report(report_file, trusted_key_pem=trusted)
    except OSError as exc:
        raise fail(f"cannot read {exc.filename}: {exc.strerror}", 2) from exc
    except ReportSignatureInvalid as exc:
        raise fail(exc.message, 1) from exc
    report = verified.report
    data = {
        "valid": True,
        "signer_node_id": verified.signer_node_id,
        "signer_suite": verified.suite,
        "signer_fingerprint": verified.signer_fingerprint,
        "sha256": verified.sha256,
        "target": report.target.node_id,
        "ok": report.ok,
        "summary": {p.value: {o.value: n for o, n in c.items()} for p, c in report.summary.items()},
    }

    def render(_: Any) -> None:
        out.print(
            f"valid: signed by {verified.signer_node_id} ({verified.suite}, key "
            f"{verified.signer_fingerprint}); report sha256 {verified.sha256}",
            highlight=False,
        )
        print_table(
            f"Conformance of {report.target.node_id} (run {report.run_id})",
            ["part", *(o.value for o in Outcome)],
            _summary_rows(report),
        )

    emit(data, as_json, render)


@conformance_app.command("list")
def list_command(as_json: AsJson = False) -> None:
    """The kit's checks: id, part, spec section, whether it creates state, title."""
    checks = all_checks()
    data = [
        {
            "check_id": c.check_id,
            "part": c.part.value,
            "section": c.section,
            "mutates": c.mutates,
            "title": c.title,
        }
        for c in checks
    ]

    def render(rows: list[dict[str, Any]]) -> None:
        print_table(
            "Conformance checks",
            ["check", "part", "section", "mutates", "title"],
            [
                [r["check_id"], r["part"], r["section"], "yes" if r["mutates"] else "", r["title"]]
                for r in rows
            ],
            ids=("check",),
        )

    emit(data, as_json, render)

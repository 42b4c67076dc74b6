"""``isthmus audit``: the hash-chained audit log. ``verify`` checks the chain on a running
node, or an export offline against the head the node signed (no node needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from isthmus.cli.common import (
    AsJson,
    Home,
    call,
    emit,
    fail,
    open_client,
    out,
    print_table,
    utc_minute,
)
from isthmus.wire.paths import ADMIN_AUDIT, ADMIN_AUDIT_EXPORT, ADMIN_AUDIT_VERIFY

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(
    home: Annotated[Path | None, typer.Option("--home", "-H", envvar="ISTHMUS_HOME")] = None,
    file: Annotated[Path | None, typer.Option(help="Verify an exported file instead.")] = None,
    as_json: AsJson = False,
) -> None:
    """Check the audit chain; exit 1 if anything was edited, removed or reordered."""
    if file is not None:
        verdict = _verify_export(file)
    elif home is not None:
        verdict = call(home, "GET", ADMIN_AUDIT_VERIFY)
    else:
        raise fail("give --home (a running node) or --file (an export)", 2)
    emit(
        verdict,
        as_json,
        lambda d: out.print(
            f"audit log intact: {d['checked']} events, head {d['last_hash']}"
            if d["ok"]
            else f"[bold red]audit log TAMPERED[/] at seq {d.get('bad_seq')}: {d['problem']}"
        ),
    )
    if not verdict["ok"]:
        raise typer.Exit(1)


def _verify_export(file: Path) -> dict[str, Any]:
    from isthmus.crypto import load_public_key
    from isthmus.store.audit import verify_chain

    lines = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line]
    if not lines or "head" not in lines[-1]:
        return {
            "ok": False,
            "checked": 0,
            "last_hash": "",
            "bad_seq": None,
            "problem": "export has no signed head trailer (truncated?)",
        }
    trailer, events = lines[-1], lines[:-1]
    head = trailer["head"]
    key = load_public_key(trailer["public_key"], trailer["auth_type"])
    statement = f"isthmus-audit-head\n{head['node_id']}\n{head['seq']}\n{head['hash']}".encode()
    if not key.verify(bytes.fromhex(trailer["signature"]), statement):
        return {
            "ok": False,
            "checked": 0,
            "last_hash": head["hash"],
            "bad_seq": None,
            "problem": "the head signature does not verify",
        }
    result = verify_chain(events, (int(head["seq"]), head["hash"])).as_dict()
    result["signed_by"] = key.fingerprint()
    return result


@audit_app.command("export")
def audit_export(
    home: Home,
    output: Annotated[Path, typer.Option("--output", "-o", help="NDJSON file to write.")],
    as_json: AsJson = False,
) -> None:
    """Export every event plus the head signed by the node key."""
    with open_client(home) as client:
        response = client.raw_get(ADMIN_AUDIT_EXPORT)
        if response.status_code != 200:
            raise fail(f"export failed: HTTP {response.status_code}: {response.text[:200]}")
        output.write_bytes(response.content)
    count = max(0, response.content.count(b"\n") - 1)
    emit(
        {"events": count, "output": str(output)},
        as_json,
        lambda d: out.print(f"exported {d['events']} events to {d['output']}"),
    )


@audit_app.command("list")
def audit_list(
    home: Home,
    after_seq: Annotated[int, typer.Option()] = 0,
    limit: Annotated[int, typer.Option()] = 50,
    action: Annotated[str | None, typer.Option()] = None,
    as_json: AsJson = False,
) -> None:
    """Show audit events."""
    rows = call(home, "GET", ADMIN_AUDIT, after_seq=after_seq, limit=limit, action=action)
    emit(
        rows,
        as_json,
        lambda d: print_table(
            "audit",
            ["seq", "time", "actor", "action", "subject", "outcome"],
            [
                [r["seq"], utc_minute(r["ts"]), r["actor"], r["action"], r["subject"], r["outcome"]]
                for r in d
            ],
            ids=("seq", "actor", "subject"),
        ),
    )

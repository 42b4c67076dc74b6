"""``isthmus audit``: the hash-chained audit log. ``verify`` checks the chain on a running
node, or an export offline against the head the node signed (no node needed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
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
    action: Annotated[str | None, typer.Option(help="Only this action.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only this actor.")] = None,
    subject: Annotated[str | None, typer.Option(help="Only this subject.")] = None,
    since: Annotated[
        str | None, typer.Option(help="From this time: ISO 8601 (UTC if no zone) or epoch ms.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Up to this time: ISO 8601 (UTC if no zone) or epoch ms.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Show audit events, filtered as the console's audit page filters them."""
    rows = call(
        home,
        "GET",
        ADMIN_AUDIT,
        after_seq=after_seq,
        limit=limit,
        action=action,
        actor=actor,
        subject=subject,
        since_ms=_epoch_ms(since, "--since"),
        until_ms=_epoch_ms(until, "--until"),
    )
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


def _epoch_ms(value: str | None, option: str) -> int | None:
    """A time an operator types, as BFIA epoch milliseconds: digits are taken as epoch ms,
    anything else as ISO 8601, read as UTC when it names no zone (the node logs in UTC)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"{option}: not a time: {value!r} (ISO 8601 or epoch milliseconds)", 2) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)

"""``isthmus operate``: the node's secure operator service (``/secure_operate/v1``).

``execute`` sends a request from a JSON body file (the digest's fields, as a platform
would) or builds one from flags, with inputs from ``.npy`` files sent ``Direct``; the
result is printed (or saved with ``--out``). ``query``, ``kill`` and ``expressions`` as
their names say. A reply with a non-zero ``code`` prints it and exits 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from isthmus.cli.common import AsJson, Home, emit, err, fail, open_client, print_table
from isthmus.node.config import load_config
from isthmus.wire import paths
from isthmus.wire.errors import IsthmusError
from isthmus.wire.secure_operate import decode_direct, encode_direct

operate_app = typer.Typer(
    help="The secure operator service (MPC on request).", no_args_is_help=True
)


def _post(home: Path, path: str, body: dict[str, Any]) -> dict[str, Any]:
    with open_client(home) as client:
        try:
            answer = client.post_document(path, body)
        except IsthmusError as exc:
            raise fail(exc.message) from exc
    return answer


def _checked(answer: dict[str, Any]) -> dict[str, Any]:
    if answer.get("code") != 0:
        raise fail(f"code {answer.get('code')}: {answer.get('msg', '')}")
    return answer


def _input(spec: str) -> dict[str, Any]:
    name, sep, file = spec.partition("=")
    if not sep:
        raise fail(f"--input {spec!r}: NAME=FILE.npy", 2)
    try:
        array = np.load(Path(file), allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise fail(f"--input {name}: cannot read {file}: {exc}", 2) from exc
    dtype = array.dtype.name if array.dtype.name in ("int32", "int64", "float32") else "float64"
    tag = {"type": "Direct", "name": name, "dtype": dtype, "shape": list(array.shape)}
    return {"dataValueTag": tag, "directValue": encode_direct(array, dtype)}


def _params(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep:
            raise fail(f"--param {pair!r}: KEY=VALUE", 2)
        try:
            out[key] = json.loads(text)
        except ValueError:
            out[key] = text
    return out


@operate_app.command("execute")
def execute(
    home: Home,
    body_file: Annotated[
        Path | None, typer.Option("--body", help="A JSON request body (the digest's fields).")
    ] = None,
    task: Annotated[str | None, typer.Option(help="taskId")] = None,
    expression: Annotated[str | None, typer.Option(help="e.g. matmul, mvm, add")] = None,
    party: Annotated[list[str] | None, typer.Option(help="every party's node id, in order")] = None,
    result_party: Annotated[list[str] | None, typer.Option(help="who learns the result")] = None,
    input_: Annotated[
        list[str] | None, typer.Option("--input", help="NAME=FILE.npy, this node's input")
    ] = None,
    param: Annotated[list[str] | None, typer.Option(help="mpcProtocol.param KEY=VALUE")] = None,
    timeout: Annotated[int, typer.Option(help="seconds; 0 = none")] = 0,
    async_mode: Annotated[bool, typer.Option("--async", help="return at once")] = False,
    out: Annotated[Path | None, typer.Option(help="save the result here (.npy)")] = None,
    as_json: AsJson = False,
) -> None:
    """Run an expression with the partners (each party's node gets its own request)."""
    if body_file is not None:
        try:
            body = json.loads(body_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise fail(f"--body {body_file}: {exc}", 2) from exc
    else:
        if not (task and expression and party):
            raise fail("give --body, or --task, --expression and --party (each party)", 2)
        me = load_config(home).node.node_id
        body = {
            "taskId": task,
            "expression": expression,
            "mpcProtocol": {"protocolCode": "semi2k", "param": _params(param or [])},
            "parties": party,
            "localPartyId": me,
            "resultParties": result_party or [],
            "inputs": [_input(s) for s in input_ or []],
            "asyncMode": async_mode,
            "timeout": timeout,
        }
    answer = _checked(_post(home, paths.SECOP_EXECUTE, body))
    _show(answer, as_json, out)


def _show(answer: dict[str, Any], as_json: bool, out: Path | None) -> None:
    values = [
        decode_direct(item["directValue"], item["dataValueTag"]["dtype"],
                      item["dataValueTag"]["shape"])
        for item in answer.get("result") or [] if item.get("directValue") is not None
    ]  # fmt: skip
    if out is not None and values:
        np.save(out, values[0], allow_pickle=False)
        err.print(f"result saved to {out}")
    if as_json or out is None:
        shown = {**answer, "values": [v.tolist() for v in values]}
        if values:
            shown.pop("result", None)  # the values, decoded, instead of their Base64
        emit(shown, True)
        return
    err.print(f"task {answer.get('taskId')}: {answer.get('status')}")


@operate_app.command("query")
def query(home: Home, task: str, as_json: AsJson = False) -> None:
    """A task's status (and its result once it has one)."""
    answer = _checked(_post(home, paths.SECOP_QUERY, {"taskId": task}))
    _show(answer, as_json, None)


@operate_app.command("kill")
def kill(home: Home, task: str) -> None:
    """Stop a task here and on its partners; everything it held is freed."""
    answer = _post(home, paths.SECOP_KILL, {"taskId": task})
    if answer.get("code") not in (0, 410):  # 410: KILLED, what was asked
        _checked(answer)
    err.print(f"task {task}: {answer.get('status')}")


@operate_app.command("expressions")
def expressions(home: Home, as_json: AsJson = False) -> None:
    """The expressions this node computes, with their parameters."""
    answer = _checked(_post(home, paths.SECOP_EXPRESSIONS, {}))

    def render(data: dict[str, Any]) -> None:
        print_table(
            "expressions",
            ["expression", "protocol", "params"],
            [[e["expression"], e["protocolCode"],
              ", ".join(p["paramKey"] for p in e["params"])] for e in data["expressions"]],
            ids=("expression",),
        )  # fmt: skip

    emit(answer, as_json, render)

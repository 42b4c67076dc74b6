"""The job submission form: its text read into a job document, and the job validation's
refusals put against the form field they name.

The form has three fields: ``flow_id`` (text), ``dag`` and ``config`` (JSON, pasted, or
filled from a chosen file by ``jobs.js``); a whole document ``{flow_id?, dag, config}``
pasted into ``dag`` is taken apart. The refusal comes from the same ``JobService.submit``
the job create API calls: an ``InvalidJob`` / ``UnknownParameter`` lists its problems
each with a field path (``dag.components[1].input[0].key``); a partner's or the
scheduler's refusal names the path in its message. ``field_errors`` maps each path to the
form field it lives in (``dag``, ``config``, ``flow_id``) and keeps the path in the text,
so the operator sees both where and what; anything naming no field goes to ``form``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

FIELDS = ("flow_id", "dag", "config")
#: Where an error that names no field of the form is shown.
GENERAL = "form"
_PATH = re.compile(r"\b(dag|config|flow_id|job_id)((?:\.[A-Za-z_][\w-]*|\[\d+\])*)")


class FormErrors(Exception):
    """Field → messages; raised while reading the form, before anything is submitted."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, vs in errors.items() for v in vs))
        self.errors = errors


def form_field(path: str) -> str:
    """The form field a job document's field path lives in."""
    head = re.split(r"[.\[]", path, maxsplit=1)[0]
    if head in ("dag", "config", "flow_id"):
        return head
    return GENERAL


def read_form(values: Mapping[str, str]) -> dict[str, Any]:
    """The job document the form's text makes; ``FormErrors`` for text that is not a
    JSON object, each against its field."""
    errors: dict[str, list[str]] = {}
    parsed: dict[str, Any] = {}
    for name in ("dag", "config"):
        text = (values.get(name) or "").strip()
        if not text:
            if name == "config" and "config" in parsed.get("dag", {}):
                continue  # a whole document pasted into dag
            errors.setdefault(name, []).append("empty")
            continue
        try:
            value = json.loads(text)
        except ValueError as exc:
            errors.setdefault(name, []).append(f"not JSON: {exc}")
            continue
        if not isinstance(value, dict):
            errors.setdefault(name, []).append("not a JSON object")
            continue
        parsed[name] = value
    if errors:
        raise FormErrors(errors)
    dag = parsed["dag"]
    if "dag" in dag and "config" in dag and "config" not in parsed:  # a whole document
        document = {k: dag[k] for k in ("flow_id", "dag", "config") if k in dag}
    else:
        document = {"dag": dag, "config": parsed["config"]}
    flow = (values.get("flow_id") or "").strip()
    if flow:
        document["flow_id"] = flow
    return document


def field_errors(message: str, details: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """A refusal of the job, as messages per form field."""
    found: dict[str, list[str]] = {}
    problems = (details or {}).get("problems")
    if isinstance(problems, list) and problems:
        for p in problems:
            if isinstance(p, Mapping):
                path, text = str(p.get("field", "")), str(p.get("message", ""))
                found.setdefault(form_field(path), []).append(f"{path}: {text}")
        return found
    named = _PATH.search(message)
    found[form_field(named.group(0)) if named else GENERAL] = [message]
    return found

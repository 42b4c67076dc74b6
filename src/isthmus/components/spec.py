"""A component's self-description, declared in code, exported as BFIA JSON (digest §2.6).

The same declaration validates the parameters a platform passes at run time, so what a
partner's registry shows and what the container accepts cannot drift apart. Exported
booleans and numbers are strings, as in the spec's examples (``"optional": "true"``);
``from_self_description`` reads either form back.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from isthmus.components.errors import ParameterError

#: Parameter types of the spec's examples; ``integer``/``number`` are its JSON-Schema
#: spellings of ``int``/``float``.
TYPES = ("string", "int", "integer", "float", "number", "boolean", "object", "array")
DATA_CATEGORIES = (
    "dataset",
    "training_set",
    "test_set",
    "datasets",
    "model",
    "report",
    "metric",
)
DES_VERSION = "1.2.0"

_RANGE = re.compile(r"^\s*([(\[])\s*([^,]*)\s*,\s*([^,]*)\s*([)\]])\s*$")
_REGULAR = re.compile(r"^\s*regular\s*:\s*'(.*)'\s*$", re.DOTALL)


@dataclass(frozen=True)
class Param:
    """One hyper-parameter (``inputParam``). ``default`` None means "no default";
    ``validator`` is ``regular:'<regex>'`` or a range ``(lo,hi)``/``[lo,hi]`` (``inf``
    allowed); ``choices`` become ``bindingData``."""

    name: str
    type: str = "string"
    default: Any = None
    optional: bool = True
    validator: str | None = None
    choices: tuple[Any, ...] | None = None
    description: str = ""
    title: str = ""

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"parameter {self.name}: type {self.type!r} is not one of {TYPES}")
        if self.validator is not None:
            _parse_validator(self.name, self.validator)  # fail at declaration, not at run

    def value_of(self, raw: Any) -> Any:
        """``raw`` (text from the environment, or a JSON value) as this parameter's type,
        checked against the validator and choices."""
        value = _coerce(self.name, self.type, raw)
        if self.choices is not None:
            # A self-description carries choices as text (``bindingData``), so a spec read
            # back from the registry has "1024" where the code said 1024: compare both as
            # the parameter's type.
            allowed = [_coerce(self.name, self.type, choice) for choice in self.choices]
            if value not in allowed:
                raise ParameterError(self.name, f"{value!r} is not one of {allowed}")
        if self.validator is not None:
            _check(self.name, self.validator, value)
        return value

    def export(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "name": self.name,
            "title": self.title or self.name,
            "description": self.description,
            "type": self.type,
            "optional": "true" if self.optional else "false",
            "UIPattern": "editeable",
            "groupTag": "",
            "UIType": "select" if self.choices else "input",
        }
        if self.default is not None:
            described["defaultValue"] = as_text(self.default)
        if self.validator is not None:
            described["validator"] = self.validator
        if self.choices is not None:
            described["bindingData"] = [
                {"label": as_text(c), "value": as_text(c)} for c in self.choices
            ]
        return described


@dataclass(frozen=True)
class DataSlot:
    """An input or output (``inputData`` / ``outputData``); the first format is the
    default."""

    name: str
    category: str = "dataset"
    formats: tuple[str, ...] = ("csv",)
    description: str = ""

    def __post_init__(self) -> None:
        if self.category not in DATA_CATEGORIES:
            raise ValueError(f"data {self.name}: category {self.category!r} unknown")

    def export(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "category": self.category,
            "dataFormat": list(self.formats),
        }


@dataclass(frozen=True)
class ComponentSpec:
    """A component's self-description in code (BFIA's ``componentName``, roles, params,
    inputs, outputs); it refuses duplicate parameter names and an empty role list, so
    every spec that exists can be published as a valid self-description."""

    name: str
    provider: str
    version: str
    roles: tuple[str, ...]
    params: tuple[Param, ...] = ()
    inputs: tuple[DataSlot, ...] = ()
    outputs: tuple[DataSlot, ...] = ()
    title: str = ""
    description: str = ""
    storage_engines: tuple[str, ...] = ("file",)
    results: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        if len(names) != len(set(names)):
            raise ValueError(f"component {self.name}: duplicate parameter names")
        if not self.roles:
            raise ValueError(f"component {self.name}: roleList must not be empty")

    def self_description(self) -> dict[str, Any]:
        """The BFIA self-description JSON object."""
        return {
            "componentName": self.name,
            "title": self.title or self.name,
            "provider": self.provider,
            "version": self.version,
            "description": self.description,
            "roleList": list(self.roles),
            "desVersion": DES_VERSION,
            "storageEngine": list(self.storage_engines),
            "inputParam": [p.export() for p in self.params],
            "inputData": [d.export() for d in self.inputs],
            "outputData": [d.export() for d in self.outputs],
            "result": [{"resultCode": c, "resultMessage": m} for c, m in self.results],
        }

    def parameters(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Every declared parameter's value: given, else its default, else None when
        optional; ParameterError naming the first parameter that fails. Parameters the
        self-description does not declare are ignored (platforms add their own, e.g.
        interconnection-impl's ``algo``)."""
        values: dict[str, Any] = {}
        for param in self.params:
            if param.name in given and given[param.name] not in (None, ""):
                values[param.name] = param.value_of(given[param.name])
            elif param.default is not None:
                values[param.name] = param.value_of(param.default)
            elif param.optional:
                values[param.name] = None
            else:
                raise ParameterError(param.name, "is required and was not given")
        return values


def from_self_description(document: Mapping[str, Any]) -> ComponentSpec:
    """Read a self-description (ours or another vendor's) back; ValueError on a
    document that lacks what the spec requires."""
    try:
        params = tuple(
            Param(
                name=str(p["name"]),
                type=str(p.get("type", "string")),
                default=p.get("defaultValue"),
                optional=_truthy(p.get("optional", True)),
                validator=p.get("validator") or None,
                choices=(
                    tuple(b["value"] for b in p["bindingData"])
                    if isinstance(p.get("bindingData"), list)
                    else None
                ),
                description=str(p.get("description", "")),
                title=str(p.get("title", "")),
            )
            for p in document.get("inputParam", [])
        )

        def slots(key: str) -> tuple[DataSlot, ...]:
            return tuple(
                DataSlot(
                    name=str(d["name"]),
                    category=str(d.get("category", "dataset")),
                    formats=tuple(d.get("dataFormat", ["csv"])),
                    description=str(d.get("description", "")),
                )
                for d in document.get(key, [])
            )

        return ComponentSpec(
            name=str(document["componentName"]),
            provider=str(document["provider"]),
            version=str(document["version"]),
            roles=tuple(document["roleList"]),
            params=params,
            inputs=slots("inputData"),
            outputs=slots("outputData"),
            title=str(document.get("title", "")),
            description=str(document.get("description", "")),
            storage_engines=tuple(document.get("storageEngine", ())),
            results=tuple(
                (str(r["resultCode"]), str(r["resultMessage"])) for r in document.get("result", [])
            ),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a component self-description: {exc}") from exc


def _truthy(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() == "true"


def as_text(value: Any) -> str:
    """A parameter value as the text the spec carries it in (self-descriptions, the
    container environment): booleans lower case, objects and lists as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _coerce(name: str, kind: str, raw: Any) -> Any:
    try:
        if kind in ("int", "integer"):
            if isinstance(raw, bool):
                raise ValueError("a boolean")
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError("has a fraction")
            return int(raw) if not isinstance(raw, str) else int(raw.strip())
        if kind in ("float", "number"):
            if isinstance(raw, bool):
                raise ValueError("a boolean")
            value = float(raw)
            if math.isnan(value):
                raise ValueError("NaN")
            return value
        if kind == "boolean":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("true", "1", "yes"):
                return True
            if text in ("false", "0", "no"):
                return False
            raise ValueError("not true or false")
        if kind in ("object", "array"):
            value = json.loads(raw) if isinstance(raw, str) else raw
            expected = dict if kind == "object" else list
            if not isinstance(value, expected):
                raise ValueError(f"not a JSON {kind}")
            return value
        return raw if isinstance(raw, str) else as_text(raw)
    except (TypeError, ValueError) as exc:
        raise ParameterError(name, f"{raw!r} is not a valid {kind} ({exc})") from None


def _parse_validator(name: str, validator: str) -> tuple[str, Any]:
    regular = _REGULAR.match(validator)
    if regular:
        try:
            return "regular", re.compile(regular.group(1))
        except re.error as exc:
            raise ValueError(f"parameter {name}: bad validator regex: {exc}") from exc
    ranged = _RANGE.match(validator)
    if ranged:
        opening, low, high, closing = ranged.groups()
        try:
            bounds = (_bound(low, -math.inf), _bound(high, math.inf))
        except ValueError as exc:
            raise ValueError(f"parameter {name}: bad range {validator!r}") from exc
        return "range", (opening == "[", bounds[0], bounds[1], closing == "]")
    raise ValueError(
        f"parameter {name}: validator {validator!r} is neither regular:'…' nor a range"
    )


def _bound(text: str, empty: float) -> float:
    """A range end; ``float`` reads ``inf``/``-inf`` itself, and an empty end is open."""
    text = text.strip()
    return float(text) if text else empty


def _check(name: str, validator: str, value: Any) -> None:
    kind, rule = _parse_validator(name, validator)
    if kind == "regular":
        if not rule.fullmatch(as_text(value)):
            raise ParameterError(name, f"{value!r} does not match {rule.pattern!r}")
        return
    low_closed, low, high, high_closed = rule
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(name, f"{value!r} is not a number for range {validator}")
    above = value >= low if low_closed else value > low
    below = value <= high if high_closed else value < high
    if not (above and below):
        raise ParameterError(name, f"{value!r} is outside {validator}")

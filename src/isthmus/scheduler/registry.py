"""The component registry: which algorithms this node runs, and a job's check against it.

Self-descriptions are registered through the north-south API or the CLI (``imageUrl`` +
``component_info``, digest §2.6), validated by reading them as a ``ComponentSpec``, and
stored as registered; ``(componentName, provider, version)`` identifies one, so versions
live side by side, each ENABLED or DISABLED. Partners discover ENABLED ones through
``/v1/interconn/component/list|query``. The image's built-in components are registered
at start.

``check_job`` adds to the DAG's own validation (``isthmus.wire.dag``) what needs the
registry: every component known and enabled, some party able to play it, and every
party's parameters passing its self-description — each problem naming its field.
``unknown_parameters`` is the initiator's stricter check at submit: a parameter no
self-description declares is most often a typo, which a component would silently ignore
(``ComponentSpec.parameters`` lets undeclared keys through for platforms' own keys).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from isthmus.components.catalog import registry as builtin_components
from isthmus.components.env import DATASET_KEYS
from isthmus.components.errors import ParameterError
from isthmus.components.spec import ComponentSpec, from_self_description
from isthmus.store.components import DISABLED, ENABLED, Key
from isthmus.store.db import Store
from isthmus.store.schema import ComponentRow
from isthmus.wire.dag import Job, Problem
from isthmus.wire.errors import NotFound, ValidationFailed

#: Runners a component may name (``isthmus.scheduler.runners``).
RUNNERS = ("process", "ray", "docker", "kubernetes")
STATES = (ENABLED, DISABLED)
BUILTIN_IMAGE = "isthmus"


@dataclass(frozen=True)
class Registered:
    spec: ComponentSpec
    state: str
    runner: str
    image_url: str


def view(row: ComponentRow, *, with_description: bool = False) -> dict[str, Any]:
    described: dict[str, Any] = {
        "componentName": row.component_name,
        "provider": row.provider,
        "version": row.version,
        "state": row.state,
        "imageUrl": row.image_url,
        "runner": row.runner,
        "registeredAt": row.registered_at,
    }
    if with_description:
        described["component_info"] = json.loads(row.self_description)
    return described


def spec_record(row: ComponentRow) -> dict[str, Any]:
    """``component/list``'s record as the spec names it (``code`` + ``version`` identify
    a component, ``developer`` is the provider), beside our own fields."""
    described = json.loads(row.self_description)
    return {
        "category": str(described.get("category", "")),
        "code": row.component_name,
        "developer": row.provider,
        "version": row.version,
        **view(row),
    }


def spec_detail(row: ComponentRow) -> dict[str, Any]:
    """``component/query``'s answer as the spec names it, beside our own fields and the
    whole self-description (``component_info``)."""
    described = json.loads(row.self_description)
    return {
        **spec_record(row),
        "name": str(described.get("title") or row.component_name),
        "description": str(described.get("description", "")),
        "engine": row.runner,
        "extension": {"imageUrl": row.image_url, "roleList": described.get("roleList", [])},
        "inputs": described.get("inputData", []),
        "outputs": described.get("outputData", []),
        "status": row.state,
        "component_info": described,
    }


class ComponentRegistry:
    def __init__(self, store: Store) -> None:
        self._store = store

    def register(
        self, description: Mapping[str, Any], image_url: str = "", runner: str = "process"
    ) -> tuple[dict[str, Any], bool]:
        try:
            spec = from_self_description(description)
        except ValueError as exc:
            raise ValidationFailed(f"component_info: {exc}") from exc
        if runner not in RUNNERS:
            raise ValidationFailed(f"runner {runner!r} is not one of {list(RUNNERS)}")
        with self._store.session() as s:
            row, created = self._store.components.put(
                s, _key(spec), json.dumps(dict(description)), image_url, runner
            )
            return view(row), created

    def register_builtins(self) -> int:
        """Register this image's own components that are not registered yet."""
        added = 0
        with self._store.session() as s:
            for cls in builtin_components().values():
                if self._store.components.get(s, _key(cls.spec)) is None:
                    description = json.dumps(cls.spec.self_description())
                    self._store.components.put(
                        s, _key(cls.spec), description, BUILTIN_IMAGE, "process"
                    )
                    added += 1
        return added

    def list_components(
        self, *, name: str | None = None, enabled_only: bool = False
    ) -> list[dict[str, Any]]:
        with self._store.session() as s:
            rows = self._store.components.list(s, name=name)
            return [view(r) for r in rows if not enabled_only or r.state == ENABLED]

    def published(self, *, developer: str = "", category: str = "") -> list[dict[str, Any]]:
        """The ENABLED components partners may see, as ``component/list`` records."""
        with self._store.session() as s:
            records = [spec_record(r) for r in self._store.components.list(s) if r.state == ENABLED]
        return [
            r
            for r in records
            if (not developer or r["developer"] == developer)
            and (not category or r["category"] == category)
        ]

    def published_detail(self, code: str, developer: str, version: str) -> dict[str, Any]:
        """One ENABLED component for ``component/query``; an empty developer matches
        the one provider of that code and version."""
        with self._store.session() as s:
            rows = [
                r
                for r in self._store.components.list(s, name=code)
                if r.version == version
                and r.state == ENABLED
                and (not developer or r.provider == developer)
            ]
            if len(rows) != 1:
                raise NotFound(f"no component {code} {version} from {developer or 'one provider'}")
            return spec_detail(rows[0])

    def query(self, key: Key, *, enabled_only: bool = False) -> dict[str, Any]:
        with self._store.session() as s:
            row = self._store.components.get(s, key)
            if row is None or (enabled_only and row.state != ENABLED):
                raise NotFound(f"no component {key[0]} {key[2]} from {key[1]!r}")
            return view(row, with_description=True)

    def set_state(self, key: Key, state: str) -> dict[str, Any]:
        if state not in STATES:
            raise ValidationFailed(f"state {state!r} is not one of {list(STATES)}")
        with self._store.session() as s:
            row = self._store.components.set_state(s, key, state)
            if row is None:
                raise NotFound(f"no component {key[0]} {key[2]} from {key[1]!r}")
            return view(row)

    def resolve(self, name: str, provider: str, version: str) -> Registered | None:
        """The registered component; an empty provider (Kuscia's dialect) matches the one
        provider that has this name and version."""
        with self._store.session() as s:
            rows = [
                r
                for r in self._store.components.list(s, name=name)
                if r.version == version and (not provider or r.provider == provider)
            ]
            if len(rows) != 1:
                return None
            row = rows[0]
            spec = from_self_description(json.loads(row.self_description))
            return Registered(spec, row.state, row.runner, row.image_url)

    def spec(self, name: str, provider: str, version: str) -> tuple[ComponentSpec, str] | None:
        found = self.resolve(name, provider, version)
        return None if found is None else (found.spec, found.state)

    def check_job(self, job: Job) -> list[Problem]:
        problems: list[Problem] = []
        for i, component in enumerate(job.components):
            where = f"dag.components[{i}]"
            found = self.spec(component.component_name, component.provider, component.version)
            if found is None:
                problems.append(
                    Problem(
                        f"{where}.componentName",
                        f"{component.component_name} {component.version} from "
                        f"{component.provider or 'any provider'} is not registered here",
                    )
                )
                continue
            spec, state = found
            if state != ENABLED:
                problems.append(Problem(f"{where}.componentName", f"{spec.name} is {state}"))
                continue
            players = [(r, i_, n) for r, i_, n in job.parties() if r in spec.roles]
            if not players:
                problems.append(
                    Problem(where, f"no party plays one of {spec.name}'s roles {list(spec.roles)}")
                )
            for role, index, _ in players:
                params = job.task_parameters(component.name, role, index)
                for key in DATASET_KEYS:
                    params.pop(key, None)
                try:
                    spec.parameters(params)
                except ParameterError as exc:
                    own = _party_section(job, component.name, role, index)
                    source = (
                        f"config.task_params.{role}.{own}.{component.name}.{exc.name}"
                        if own is not None
                        else f"config.task_params.common.{component.name}.{exc.name}"
                    )
                    problems.append(Problem(source, exc.message))
        return problems


def unknown_parameters(registry: ComponentRegistry, job: Job) -> list[Problem]:
    """Every parameter the job sets (``common`` and each party's section) that its
    component's self-description here does not declare, with the closest declared names.
    A component not registered here is left to the parties' own check (``check_job``),
    which refuses it; dataset keys (``namespace``, ``name``, ``dataset_id``) are always
    allowed."""
    problems: list[Problem] = []
    for component in job.components:
        found = registry.spec(component.component_name, component.provider, component.version)
        if found is None:
            continue
        spec = found[0]
        declared = [p.name for p in spec.params]
        for section, values in _sections(job, component.name):
            for key in values:
                if key in declared or key in DATASET_KEYS:
                    continue
                close = difflib.get_close_matches(str(key), declared, n=3, cutoff=0.6)
                problems.append(
                    Problem(
                        f"{section}.{key}",
                        f"component {component.name} ({spec.name}) has no parameter "
                        f"{key!r}{_hint(close, declared)}",
                    )
                )
    return problems


def _hint(close: list[str], declared: list[str]) -> str:
    if close:
        return "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    return f"; it declares {declared}" if declared else "; it declares none"


def _sections(job: Job, component: str) -> list[tuple[str, Mapping[str, Any]]]:
    """Where the job sets ``component``'s parameters: ``common`` and each party's own
    section, each with its dotted path."""
    found: list[tuple[str, Mapping[str, Any]]] = []
    for role, per_role in job.task_params.items():
        if role == "common":
            values = per_role.get(component) if isinstance(per_role, Mapping) else None
            if isinstance(values, Mapping):
                found.append((f"config.task_params.common.{component}", values))
            continue
        for index, per_party in (per_role or {}).items():
            values = per_party.get(component) if isinstance(per_party, Mapping) else None
            if isinstance(values, Mapping):
                found.append((f"config.task_params.{role}.{index}.{component}", values))
    return found


def _party_section(job: Job, component: str, role: str, index: int) -> str | None:
    """The party's own section that sets parameters of ``component``, if any."""
    for key, values in job.task_params.get(role, {}).items():
        if str(index) in key.split("|") and component in values:
            return str(key)
    return None


def _key(spec: ComponentSpec) -> Key:
    return (spec.name, spec.provider, spec.version)

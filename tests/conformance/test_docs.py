"""docs/conformance.md says what the kit does: every TOML example is a target file the kit
loads (the SecretFlow one a bare PSI party that needs no contract), and every check id
it names is one of the kit's checks."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from isthmus.conformance.catalogue import all_checks
from isthmus.conformance.model import Part, Target
from isthmus.conformance.psi.target import Curve
from isthmus.conformance.setup import needs_contract

DOC = Path(__file__).resolve().parents[2] / "docs" / "conformance.md"
TOML_BLOCK = re.compile(r"^```toml\n(.*?)^```$", re.S | re.M)
CODE = re.compile(r"`([a-z][a-z0-9-]*(?:\.[a-z0-9-]+)+)`")


def _blocks() -> list[str]:
    return TOML_BLOCK.findall(DOC.read_text(encoding="utf-8"))


def test_the_node_example_with_sessions_and_secure_operator_is_a_target() -> None:
    node, extra, _secretflow = _blocks()
    target = Target.model_validate(tomllib.loads(node + extra))
    assert target.claims >= {Part.MANAGEMENT, Part.TRANSPORT_SN}
    assert [s.session_id for s in target.transport_sessions] == ["lab-session-1", "lab-session-2"]
    assert target.secure_operate_address and target.secure_operate_token


def test_the_secretflow_example_is_a_bare_psi_party_needing_no_contract() -> None:
    target = Target.model_validate(tomllib.loads(_blocks()[2]))
    assert target.contract_id is None and target.claims == {Part.PSI_LINK}
    assert target.psi is not None and target.psi.link == "blackbox"
    assert target.psi.curves == set(Curve) and "{transport}" in target.psi.command
    assert not any(needs_contract(c, target) for c in all_checks() if c.part in target.claims)


def test_every_check_the_doc_names_exists() -> None:
    known = {c.check_id for c in all_checks()}
    prefixes = {i.split(".")[0] for i in known}
    named = {m for m in CODE.findall(DOC.read_text(encoding="utf-8"))}
    named = {n for n in named if n.split(".")[0] in prefixes}
    assert named, "the doc names no check"
    assert named <= known, sorted(named - known)

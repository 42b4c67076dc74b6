"""Report signatures: what is signed verifies, and any change to a signed report — a
result, the target, a time, the signer's name, the key — is refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from isthmus.conformance.identity import ephemeral
from isthmus.conformance.model import Outcome
from isthmus.conformance.report import Report, to_json
from isthmus.conformance.signing import SCHEME, sign_report, verify_report
from isthmus.wire.errors import ErrorCode, ReportSignatureInvalid
from tests.conformance.strategies import reports, sample_report, sample_result

SIGNER = ephemeral()
OTHER = ephemeral("SM2")
SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _write(tmp_path: Path, data: bytes, name: str = "report.json") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@SETTINGS
@given(report=reports)
def test_a_signed_report_verifies_and_reads_back_the_same(tmp_path: Path, report: Report) -> None:
    signed = sign_report(to_json(report), SIGNER.identity)
    verified = verify_report(_write(tmp_path, signed))
    assert verified.report.model_copy(update={"signature": None}) == report
    assert verified.signer_node_id == SIGNER.node_id
    assert verified.signer_fingerprint == SIGNER.identity.private_key.public_key().fingerprint()
    block = json.loads(signed)["signature"]
    assert block["scheme"] == SCHEME and block["public_key_pem"] == SIGNER.public_key_pem


@SETTINGS
@given(report=reports, data=st.data())
def test_any_changed_byte_of_a_signed_report_is_refused(
    tmp_path: Path, report: Report, data: st.DataObject
) -> None:
    signed = sign_report(to_json(report), SIGNER.identity)
    position = data.draw(st.integers(0, len(signed) - 1))
    flipped = data.draw(st.integers(1, 255))
    tampered = bytearray(signed)
    tampered[position] ^= flipped
    path = _write(tmp_path, bytes(tampered))
    try:
        verified = verify_report(path)
    except ReportSignatureInvalid as exc:
        assert exc.code == ErrorCode.REPORT_SIGNATURE
    else:  # only a change JSON cannot see (e.g. whitespace) may pass, with the same content
        assert verified.report == Report.model_validate_json(signed)


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("result outcome", lambda d: d["results"][0].__setitem__("outcome", "pass")),
        ("result reason", lambda d: d["results"][0].__setitem__("reason", "all good")),
        ("target", lambda d: d["target"].__setitem__("node_id", "SOMEONE_ELSE")),
        ("time", lambda d: d.__setitem__("finished_at", "2030-01-01T00:00:00Z")),
        ("signer name", lambda d: d["signature"].__setitem__("node_id", "TRUSTED_LAB")),
        ("dropped result", lambda d: d["results"].pop()),
        ("no signature", lambda d: d.pop("signature")),
        ("scheme", lambda d: d["signature"].__setitem__("scheme", "other-1")),
        ("signature text", lambda d: d["signature"].__setitem__("signature", "!!")),
    ],
)
def test_a_meaningful_change_is_refused(
    tmp_path: Path, where: str, change: Callable[[dict[str, Any]], object]
) -> None:
    report = sample_report(
        (sample_result("a.fail", Outcome.FAIL), sample_result("a.pass", Outcome.PASS))
    )
    document = json.loads(sign_report(to_json(report), SIGNER.identity))
    change(document)
    path = _write(tmp_path, json.dumps(document).encode())
    with pytest.raises(ReportSignatureInvalid):
        verify_report(path)


def test_a_report_resigned_with_another_key_verifies_only_without_a_trusted_key(
    tmp_path: Path,
) -> None:
    """Anyone can sign a report of their own; ``--key`` pins who must have."""
    report = sample_report(())
    path = _write(tmp_path, sign_report(to_json(report), OTHER.identity))
    assert verify_report(path).suite == OTHER.identity.auth_type
    with pytest.raises(ReportSignatureInvalid, match="another key"):
        verify_report(path, trusted_key_pem=ephemeral("SM2").public_key_pem)
    assert verify_report(path, trusted_key_pem=OTHER.public_key_pem).signer_node_id == OTHER.node_id


def test_not_a_report_at_all_is_refused(tmp_path: Path) -> None:
    for content in (b"", b"[]", b"{", b'{"signature": 3}'):
        with pytest.raises(ReportSignatureInvalid):
            verify_report(_write(tmp_path, content))

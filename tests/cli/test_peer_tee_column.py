"""``isthmus peer list``: the ``tee`` column states each partner's attestation in a word
(``-`` not required, ``VERIFIED until <date>``, ``LAPSED`` once the proof has passed,
whatever the stored status says)."""

from __future__ import annotations

from typing import Any

import pytest

from isthmus.cli.peer import _contracts_table, tee_cell

NOW = 1_800_000_000_000
HOUR = 3_600_000


def _row(**tee: Any) -> dict[str, Any]:
    return {
        "contract_id": "C" * 32,
        "peer_node_id": "NODE_B",
        "direction": "OUTBOUND",
        "status": "APPROVED",
        "peer_address": "https://127.0.0.1:1",
        "tee_required": False,
        **tee,
    }


def _req(status: str | None = None, until: int | None = None) -> dict[str, Any]:
    return {"tee_required": True, "peer_tee_status": status, "peer_tee_valid_until": until}


@pytest.mark.parametrize(
    ("tee", "cell"),
    [
        ({}, "-"),
        ({"peer_tee_status": "VERIFIED", "peer_tee_valid_until": NOW + HOUR}, "-"),
        (_req("VERIFIED", NOW + HOUR), "VERIFIED until 2027-01-15 09:00Z"),
        (_req("VERIFIED"), "VERIFIED"),
        (_req("LAPSED", NOW - 1), "LAPSED"),
        # past its proof but not yet marked by the refresh loop: already refused
        (_req("VERIFIED", NOW), "LAPSED"),
        (_req(), "REQUIRED"),
    ],
)
def test_the_tee_cell(tee: dict[str, Any], cell: str) -> None:
    assert tee_cell(_row(**tee), NOW) == cell


def test_the_table_has_the_tee_column(capsys: pytest.CaptureFixture[str]) -> None:
    far = 4_102_444_800_000  # 2100-01-01
    rows = [
        _row(),
        _row(tee_required=True, peer_tee_status="VERIFIED", peer_tee_valid_until=far),
        _row(tee_required=True, peer_tee_status="LAPSED", peer_tee_valid_until=1),
    ]
    _contracts_table(rows)
    printed = capsys.readouterr().out
    assert " tee " in printed or "│ tee" in printed
    assert "VERIFIED until 2100-01-01 00:00Z" in printed and "LAPSED" in printed

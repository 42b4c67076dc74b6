"""``transport.accounting``: a session stays within its limits, a partner within its
share, and every reservation is undone exactly once."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.store.transport import OPEN, InEntry, SessionRecord
from isthmus.transport.accounting import Accounting, QueueLimits
from isthmus.wire.errors import TransportRefused
from isthmus.wire.ptp import PtpCode

LIMITS = QueueLimits(max_message_bytes=100, max_session_messages=4, max_session_bytes=300)
RECORD = SessionRecord("s", "digest", OPEN, 0, 0, parties=frozenset({"A", "B"}))


def test_a_full_session_refuses_and_counts_nothing() -> None:
    accounting = Accounting(LIMITS)
    for _ in range(4):
        accounting.reserve_out("s", 10)
    with pytest.raises(TransportRefused) as exc:
        accounting.reserve_out("s", 10)
    assert exc.value.ptp_code == PtpCode.BUFFER_FULL
    assert accounting.usage("s")["out_count"] == 4
    accounting.unreserve_out("s", 10)
    accounting.reserve_out("s", 10)  # room again


def test_one_partner_holds_at_most_its_share() -> None:
    accounting = Accounting(LIMITS)
    accounting.reserve_in(RECORD, "A", 10)
    accounting.reserve_in(RECORD, "A", 10)
    with pytest.raises(TransportRefused, match="share"):
        accounting.reserve_in(RECORD, "A", 10)
    accounting.reserve_in(RECORD, "B", 10)  # the other party's share is untouched
    assert accounting.usage("s")["in_count"] == 3


@given(st.lists(st.tuples(st.sampled_from(["A", "B"]), st.integers(0, 120)), max_size=30))
def test_reservations_stay_within_the_limits_and_undo_to_nothing(
    arrivals: list[tuple[str, int]],
) -> None:
    accounting = Accounting(LIMITS)
    held: list[InEntry] = []
    for number, (source, size) in enumerate(arrivals):
        try:
            accounting.reserve_in(RECORD, source, size)
        except TransportRefused as exc:
            assert exc.ptp_code == PtpCode.BUFFER_FULL
            continue
        held.append(InEntry(number, "s", source, "t", size))
        usage = accounting.usage("s")
        assert usage["in_count"] <= LIMITS.max_session_messages
        assert usage["in_bytes"] <= LIMITS.max_session_bytes
    for entry in held:
        accounting.unreserve_in(entry)
    assert accounting.usage("s") == {"out_count": 0, "out_bytes": 0, "in_count": 0, "in_bytes": 0}

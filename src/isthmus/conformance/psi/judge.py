"""What the spec says about one recorded PSI scenario, as pure functions.

Each function reads a ``ScenarioResult`` (what crossed the link, what the kit's party
concluded, how the target's party ended) and returns a ``Verdict``: whether the target
did what the digest's section says, why, and any divergence the digest documents (a
divergence is reported, never failed). No I/O here, so every rule is testable on a
hand-made observation.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from isthmus.components.builtin.ecdh_psi.protocol import BATCH_SIZE, DUAL, ENC
from isthmus.conformance.psi.relay import PARTIES
from isthmus.conformance.psi.session import ScenarioResult
from isthmus.conformance.psi.target import Curve
from isthmus.link import keys
from isthmus.wire import ptp
from isthmus.wire.proto import ecc_pb2, ecdh_psi_pb2, handshake_pb2, psi_handshake_pb2

CURVES = {Curve.CURVE25519: ecc_pb2.CURVE_TYPE_CURVE25519, Curve.SM2: ecc_pb2.CURVE_TYPE_SM2}


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str
    divergences: tuple[str, ...] = ()


def batches(raw: list[bytes]) -> list[ecdh_psi_pb2.EcdhPsiCipherBatch | None]:
    out: list[ecdh_psi_pb2.EcdhPsiCipherBatch | None] = []
    for value in raw:
        batch = ecdh_psi_pb2.EcdhPsiCipherBatch()
        try:
            batch.ParseFromString(value)
        except DecodeError:
            out.append(None)
            continue
        out.append(batch)
    return out


# --- a scenario as a whole (§5.2) -------------------------------------------------------


def run(result: ScenarioResult) -> Verdict:
    """The scenario completed and both sides found exactly the shared ids."""
    party, target = result.party, result.target
    problems = []
    if not target.succeeded:
        problems.append(f"the target's party ended with status {target.returncode}")
    if party.error:
        problems.append(f"the kit's party: {party.error}")
    found = result.kit_intersection
    if found != result.expected:
        got = "none" if found is None else str(len(found))
        problems.append(f"the kit's intersection has {got} ids, {len(result.expected)} expected")
    if target.rows is not None and target.rows != result.expected:
        problems.append(
            f"the target wrote {len(target.rows)} ids as its intersection, "
            f"{len(result.expected)} expected"
        )
    if problems:
        return Verdict(False, "; ".join(problems))
    rows = "" if target.rows is None else " (the target wrote the same ids)"
    return Verdict(True, f"{len(result.expected)} shared ids found by the kit{rows}")


# --- batches (§5.2) ---------------------------------------------------------------------


def framing(result: ScenarioResult) -> Verdict:
    """Every batch is an ``EcdhPsiCipherBatch`` of the right type, its index counts from
    0 without gaps, its count is at most 4096 and matches the bytes it carries; the
    dual stream answers each of the kit's enc batches with the same index and count."""
    party = result.party
    problems: list[str] = []
    for kind, raw in ((ENC, party.peer_enc), (DUAL, party.peer_dual)):
        widths = set()
        for position, batch in enumerate(batches(raw)):
            where = f"{kind} message {position}"
            if batch is None:
                problems.append(f"{where} is not an EcdhPsiCipherBatch")
                continue
            if batch.type != kind:
                problems.append(f"{where} has type {batch.type!r}")
            if batch.batch_index != position:
                problems.append(f"{where} has batch_index {batch.batch_index}")
            if not 0 <= batch.count <= BATCH_SIZE:
                problems.append(f"{where} claims {batch.count} items (limit {BATCH_SIZE})")
            size = len(batch.ciphertext)
            if batch.count and size % batch.count == 0:
                widths.add(size // batch.count)
            elif batch.count or size:
                problems.append(f"{where}: {size} bytes for {batch.count} items")
        want = party.point_bytes if kind == ENC else None
        if want is not None and widths - {want}:
            problems.append(f"{kind} items are {sorted(widths)} bytes, {want} expected")
        if kind == DUAL and len(widths) > 1:
            problems.append(f"dual.enc items have several widths {sorted(widths)}")
    duals = [b for b in batches(party.peer_dual) if b is not None]
    answered = [b.count for b in duals]
    if party.dual_end.complete and answered != party.kit_sent:
        problems.append(
            f"the dual.enc batches hold {answered} values; the kit's enc batches "
            f"held {party.kit_sent}"
        )
    enc_items = sum(b.count for b in batches(party.peer_enc) if b is not None)
    if party.enc_end.complete and enc_items != len(result.target_items):
        problems.append(f"the enc stream carried {enc_items} items for {len(result.target_items)}")
    if problems:
        return Verdict(False, "; ".join(problems))
    return Verdict(
        True,
        f"{len(party.peer_enc)} enc and {len(party.peer_dual)} dual.enc batches, indices from "
        f"0, counts {[b.count for b in duals]} answering the kit's {party.kit_sent}",
    )


def empty_last(result: ScenarioResult) -> Verdict:
    """Each of the target's streams ends with exactly one batch marked
    ``is_last_batch``, which is empty (count 0, no bytes) and comes last."""
    party = result.party
    problems = []
    for kind, raw, end in (
        (ENC, party.peer_enc, party.enc_end),
        (DUAL, party.peer_dual, party.dual_end),
    ):
        parsed = batches(raw)
        marked = [i for i, b in enumerate(parsed) if b is not None and b.is_last_batch]
        if not marked:
            problems.append(
                f"the {kind} stream has no batch marked is_last_batch "
                f"({len(parsed)} received; {end.reason})"
            )
            continue
        last = parsed[marked[-1]]
        assert last is not None
        if marked != [len(parsed) - 1]:
            problems.append(f"{kind} batches {marked} are marked last")
        if last.count or last.ciphertext:
            problems.append(
                f"the {kind} batch marked last (index {last.batch_index}) holds {last.count} "
                f"items, {len(last.ciphertext)} bytes: the last batch must be empty"
            )
    if problems:
        return Verdict(False, "; ".join(problems))
    return Verdict(True, "enc and dual.enc each end with one empty batch marked last")


# --- truncation (§5.2) ------------------------------------------------------------------


def truncation(result: ScenarioResult) -> Verdict:
    """Which bytes of the double-masked point the target returns: the kit knows the full
    value for every shared id, so it can tell the end they come from and their width."""
    party = result.party
    shared = [i for i, item in enumerate(party.items) if item.decode() in result.expected]
    if len(party.my_duals) != len(party.items) or not shared:
        return Verdict(False, f"no dual values to judge ({party.dual_end.reason})")
    widths = {len(d) for d in party.my_duals}
    if len(widths) != 1:
        return Verdict(False, f"dual values of several widths {sorted(widths)}")
    width = widths.pop()
    trailing = {f[-width:] for f in party.full_double}
    leading = {f[:width] for f in party.full_double}
    at_end = sum(party.my_duals[i] in trailing for i in shared)
    at_start = sum(party.my_duals[i] in leading for i in shared)
    hand = party.handshake
    if hand is not None and hand.decided is not None and hand.decided[1] > 0:
        want_width = hand.decided[1] // 8
        want_end = party.compare_from_end
    else:
        want_width, want_end = 12, True
    matched = at_end if want_end else at_start
    end_name = "trailing" if want_end else "leading"
    if width != want_width or matched != len(shared):
        return Verdict(
            False,
            f"dual values are {width} bytes ({want_width} expected); for the {len(shared)} "
            f"shared ids {at_end} match the trailing and {at_start} the leading bytes of the "
            f"double-masked point ({end_name} expected)",
        )
    divergences: tuple[str, ...] = ()
    if hand is None and result.scenario.curve is Curve.CURVE25519:
        divergences = (
            "dual values are the trailing 12 bytes of the X25519 encoding, i.e. the "
            "high-order 96 bits of X, where the PPCA text keeps the low-order bits "
            "(SecretFlow's kFinalCompareBytes, §5.2 Δ)",
        )
    elif hand is None:
        divergences = (
            "dual values are always the trailing 12 bytes (96 bits), whatever "
            "bit_length_after_truncated says (SecretFlow, §5.2 Δ)",
        )
    return Verdict(
        True,
        f"{width}-byte {end_name} truncation of the double-masked point, checked on "
        f"{len(shared)} shared ids",
        divergences,
    )


# --- points (§5.2) ----------------------------------------------------------------------


def points_valid(result: ScenarioResult) -> Verdict:
    party = result.party
    if party.invalid_peer_points:
        shown = "; ".join(f"batch {b} item {p}: {why}" for b, p, why in party.invalid_peer_points)
        return Verdict(False, f"the target sent unusable points: {shown[:600]}")
    points = 0
    for batch in batches(party.peer_enc):
        if batch is None:
            continue
        data = bytes(batch.ciphertext)
        width = party.point_bytes
        points += len(data) // width
        if result.scenario.curve is Curve.SM2:
            bad = {data[i] for i in range(0, len(data), width)} - {2, 3}
            if bad:
                return Verdict(False, f"SM2 points with prefix bytes {sorted(bad)}: not X9.62")
    if not points:
        return Verdict(False, "the target sent no points")
    fmt = (
        "32-byte u-coordinates, none of low order"
        if result.scenario.curve is Curve.CURVE25519
        else "33-byte X9.62 compressed points on the curve"
    )
    return Verdict(True, f"{points} points, all {fmt}")


def invalid_refused(result: ScenarioResult) -> Verdict:
    """The kit's first point is invalid: the target must refuse it (end with an error,
    or at least leave it out) and must not crash or hang."""
    target = result.target
    poisoned = result.kit_items[0]
    if target.crashed:
        return Verdict(False, f"the target crashed (signal {-(target.returncode or 0)})")
    if target.returncode is None:
        return Verdict(False, "the target hung: still running when the kit gave up on it")
    if target.rows is not None and poisoned in target.rows:
        return Verdict(False, "the target matched the kit's invalid point")
    if target.returncode != 0:
        last = next(
            (
                ln
                for ln in reversed(target.log_tail.splitlines())
                if "fail" in ln.lower() or "error" in ln.lower() or "enforce" in ln.lower()
            ),
            "",
        )
        return Verdict(
            True,
            f"the target refused it and ended with status {target.returncode}"
            + (f": {last.strip()[:200]}" if last else ""),
        )
    return Verdict(False, "the target accepted the invalid point and finished normally")


# --- handshake (§5.1) -------------------------------------------------------------------


def handshake_request(result: ScenarioResult) -> Verdict:
    """The target (rank 1) sent rank 0 (the kit) a v2 HandshakeRequest for ECDH-PSI."""
    hand = result.party.handshake
    if hand is None or hand.request is None:
        return Verdict(False, "no HandshakeRequest arrived")
    message = handshake_pb2.HandshakeRequest()
    try:
        message.ParseFromString(hand.request)
    except DecodeError:
        return Verdict(False, "the first message is not a HandshakeRequest")
    problems = []
    if message.version != 2:
        problems.append(f"version {message.version}, 2 expected")
    if message.requester_rank != result.scenario.target_rank:
        problems.append(f"requester_rank {message.requester_rank}")
    if handshake_pb2.ALGO_TYPE_ECDH_PSI not in message.supported_algos:
        problems.append("ECDH_PSI is not among supported_algos")
    families = dict(zip(message.protocol_families, message.protocol_family_params, strict=False))
    proposal = ecc_pb2.EccProtocolProposal()
    ecc = families.get(handshake_pb2.PROTOCOL_FAMILY_ECC)
    if ecc is None or not ecc.Unpack(proposal):
        problems.append("no EccProtocolProposal for protocol family ECC")
    elif CURVES[result.scenario.curve] not in {s.curve for s in proposal.ec_suits}:
        problems.append(f"no suite on {result.scenario.curve.value} is offered")
    io = psi_handshake_pb2.PsiDataIoProposal()
    if not message.HasField("io_param") or not message.io_param.Unpack(io):
        problems.append("io_param is not a PsiDataIoProposal")
    elif io.item_num != len(result.target_items):
        problems.append(f"item_num {io.item_num} for {len(result.target_items)} items")
    if hand.problem:
        problems.append(hand.problem)
    if problems:
        return Verdict(False, "; ".join(problems))
    return Verdict(True, "HandshakeRequest v2: ECDH_PSI, an ECC proposal, item_num")


def handshake_response(result: ScenarioResult) -> Verdict:
    """The target (rank 0) answered the kit's request with an accepting response."""
    hand = result.party.handshake
    if hand is None or hand.response is None:
        return Verdict(False, "no HandshakeResponse arrived")
    message = handshake_pb2.HandshakeResponse()
    try:
        message.ParseFromString(hand.response)
    except DecodeError:
        return Verdict(False, "the answer is not a HandshakeResponse")
    problems = []
    if message.header.error_code != 0:
        problems.append(f"refused with {message.header.error_code} {message.header.error_msg!r}")
    if message.algo != handshake_pb2.ALGO_TYPE_ECDH_PSI:
        problems.append(f"algo {message.algo}")
    families = dict(zip(message.protocol_families, message.protocol_family_params, strict=False))
    result_ecc = ecc_pb2.EccProtocolResult()
    ecc = families.get(handshake_pb2.PROTOCOL_FAMILY_ECC)
    if ecc is None or not ecc.Unpack(result_ecc):
        problems.append("no EccProtocolResult")
    elif result_ecc.ec_suit.curve != CURVES[result.scenario.curve]:
        problems.append(f"curve {result_ecc.ec_suit.curve} chosen")
    divergences: tuple[str, ...] = ()
    if message.io_param.Is(psi_handshake_pb2.PsiDataIoProposal.DESCRIPTOR):
        divergences = ("io_param is a PsiDataIoProposal, not a Result (SecretFlow, §5.2 Δ)",)
    elif not message.io_param.Is(psi_handshake_pb2.PsiDataIoResult.DESCRIPTOR):
        problems.append("io_param is neither a PsiDataIoResult nor a PsiDataIoProposal")
    if hand.problem:
        problems.append(hand.problem)
    if problems:
        return Verdict(False, "; ".join(problems))
    bits = result_ecc.bit_length_after_truncated
    return Verdict(
        True, f"HandshakeResponse accepted: ECDH_PSI, truncation {bits} bits", divergences
    )


# --- the white-box link (§4.5) ----------------------------------------------------------


def _incoming(result: ScenarioResult) -> list[tuple[str, int | None, bytes, str]]:
    """(key, seq, value, raw key) of every whole message the target sent, chunks folded."""
    seen: list[tuple[str, int | None, bytes, str]] = []
    for record in result.party.records:
        if record.direction != "in" or (record.chunked and record.chunk_offset):
            continue
        seen.append((record.key, record.seq, record.value, record.raw_key))
    return seen


def connect(result: ScenarioResult) -> Verdict:
    incoming = _incoming(result)
    if not incoming:
        return Verdict(False, "the target sent nothing")
    key, _, value, raw = incoming[0]
    want = keys.connect_key(result.scenario.target_rank)
    if key != want:
        return Verdict(False, f"the first message is {raw!r}, {want!r} expected")
    if value:
        return Verdict(False, f"{want} carries {len(value)} bytes; it must be empty")
    return Verdict(True, f"first message {raw!r}, empty")


def link_keys(result: ScenarioResult) -> Verdict:
    """Data keys are ``<channel>:P2P-<n>:<src>-><dst>`` numbered from 1 per channel,
    enc on ``root`` and dual on ``root-0``; nothing the protocol does not define."""
    target, kit = result.scenario.target_rank, 1 - result.scenario.target_rank
    counters: dict[str, list[int]] = defaultdict(list)
    unknown, seqs = [], []
    for key, seq, _, raw in _incoming(result):
        if key in (keys.ACK_KEY, keys.FIN_KEY) or key.startswith(keys.CONNECT_PREFIX):
            continue
        parsed = keys.parse_p2p(key)
        if parsed is None or (parsed.src, parsed.dst) != (target, kit):
            unknown.append(raw)
            continue
        counters[parsed.channel].append(parsed.counter)
        if seq:
            seqs.append(seq)
    problems, divergences = [], []
    if unknown:
        problems.append(f"keys the protocol does not define: {unknown[:5]!r}")
    if set(counters) - {"root", "root-0"}:
        problems.append(f"channels {sorted(set(counters) - {'root', 'root-0'})}")
    for channel, numbers in counters.items():
        ordered = sorted(numbers)
        if ordered == list(range(0, len(ordered))):
            divergences.append(f"{channel} counts from P2P-0 as the PPCA PDF examples (§4.5 Δ)")
        elif ordered != list(range(1, len(ordered) + 1)):
            problems.append(f"{channel} counters {ordered} are not 1..n")
    if not counters.get("root") or not counters.get("root-0"):
        problems.append("no enc keys on root or no dual keys on root-0")
    if seqs:
        divergences.append(
            "keys carry yacl's \\x01\\x02<seq> suffix and expect ACKs (de-facto extension, §4.5 Δ)"
        )
    if problems:
        return Verdict(False, "; ".join(problems))
    shown = ", ".join(f"{c}: P2P-1..{max(n)}" for c, n in sorted(counters.items()))
    return Verdict(True, f"P2P keys {target}->{kit} ({shown})", tuple(divergences))


def fin(result: ScenarioResult) -> Verdict:
    numbered = {key for key, seq, _, _ in _incoming(result) if seq}
    fins = [value for key, _, value, _ in _incoming(result) if key == keys.FIN_KEY]
    if not fins:
        return Verdict(False, "the target closed without sending FIN\\x01\\x02")
    text = fins[0].decode("ascii", "replace")
    if not text.isdigit() or int(text) != len(numbered):
        return Verdict(
            False, f"FIN says {text!r}; the target sent {len(numbered)} numbered messages"
        )
    return Verdict(True, f"FIN with count {text} ({len(numbered)} numbered messages)")


def chunked(result: ScenarioResult) -> Verdict:
    sent = [r for r in result.party.records if r.direction == "out" and r.chunked]
    if not sent:
        return Verdict(False, "the kit sent no CHUNKED message (kit_chunk_bytes too large?)")
    theirs = [r for r in result.party.records if r.direction == "in" and r.chunked]
    note = f"; the target sent {len(theirs)} chunks, reassembled" if theirs else ""
    if not result.target.succeeded:
        return Verdict(False, f"the target failed after {len(sent)} CHUNKED pieces")
    return Verdict(True, f"the target reassembled the kit's {len(sent)} CHUNKED pieces{note}")


# --- the transport module seen from the party (§4.4) ------------------------------------


def transport_headers(result: ScenarioResult) -> Verdict:
    target, kit = PARTIES[result.scenario.target_rank], PARTIES[1 - result.scenario.target_rank]
    problems: set[str] = set()
    divergences: set[str] = set()
    calls = [r for r in result.relay_records if r.path.endswith(("/push", "/pop"))]
    if not calls:
        return Verdict(False, "the target made no push or pop")
    for call in calls:
        push = call.path.endswith("/push")
        want_topic = f"{target}-{kit}" if push else f"{kit}-{target}"
        checks = {
            ptp.SESSION_ID: result.session,
            ptp.TOPIC: want_topic,
            ptp.TARGET_NODE_ID: result.kit_node_id,
            ptp.SOURCE_NODE_ID: result.target_node_id,
        }
        for name, want in checks.items():
            got = ptp.read(dict(call.headers), name)
            if got != want:
                problems.add(f"{call.path.rsplit('/', 1)[1]} {name}: {got!r}, {want!r} expected")
        for name in (ptp.TRACE_ID, ptp.TOKEN):
            if not call.header(name):
                problems.add(f"no {name}")
        if call.header(ptp.TECH_PROVIDER_CODE) is None:
            if call.header(ptp.TECN_PROVIDER_CODE) is not None:
                divergences.add(
                    "the vendor header is spelt x-ptp-tecn-provider-code (yacl's typo, §4.4 Δ)"
                )
            else:
                problems.add("no x-ptp-tech-provider-code")
        if call.header(ptp.FROM_NODE_ID) and not call.header(ptp.SOURCE_NODE_ID):
            divergences.add("x-ptp-from-node-id instead of x-ptp-source-node-id (§4.1 Δ)")
    if problems:
        return Verdict(False, "; ".join(sorted(problems)))
    return Verdict(
        True,
        f"{len(calls)} push/pop calls with session, topic ({target}-{kit} / {kit}-{target}), "
        "source and target node, trace id and token",
        tuple(sorted(divergences)),
    )


def transport_bodies(result: ScenarioResult) -> Verdict:
    pushes = [r for r in result.relay_records if r.path.endswith("/push")]
    if not pushes:
        return Verdict(False, "the target made no push")
    bad = [r for r in pushes if r.key is None]
    if bad:
        return Verdict(False, f"{len(bad)} push bodies are not a serialized PushRequest")
    return Verdict(
        True,
        f"{len(pushes)} push bodies, each a raw serialized PushRequest; the relay answered "
        "TransportOutbound{payload=1, code=2, message=3}",
        (
            "push bodies are raw PushRequest bytes with session and topic in headers "
            "(yacl/Kuscia), not the spec table's {payload, topic, metadata} (§8.6 silence)",
        ),
    )

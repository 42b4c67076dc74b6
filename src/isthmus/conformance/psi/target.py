"""How the kit reaches the target's ECDH-PSI party: link, ranks, curves, how it starts.

A PSI party runs one session and ends, so the kit starts the target's party once per
scenario (curve, rank) with inputs the kit wrote, plays the other rank itself, and reads
the target's output back. ``PsiTarget`` says how: a command (and environment) template
the kit expands per scenario, or the import path of a launcher factory (an Isthmus
party in-process, a job on a node). Everything here is data loadable from the target's
TOML/JSON file; nothing secret is in it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Curve(StrEnum):
    """The curves the PPCA ECDH-PSI text lists (digest §5.2, ``CurveType``)."""

    CURVE25519 = "CURVE25519"
    SM2 = "SM2"

    @property
    def bfia(self) -> str:
        """The BFIA parameter value (interconnection-impl: the enum name lower-cased)."""
        return "curve25519" if self is Curve.CURVE25519 else "sm2"

    @property
    def secretflow(self) -> str:
        """SecretFlow's ``CurveType`` name (``sf_ecdh_psi.py --curve``)."""
        return "CURVE_25519" if self is Curve.CURVE25519 else "CURVE_SM2"


class PsiTarget(BaseModel):
    """Where and how the target's PSI party runs.

    Placeholders in ``command`` and ``env`` values, expanded per scenario: ``{rank}``
    (the target's rank), ``{curve}`` (``curve25519``/``sm2``), ``{curve_secretflow}``
    (``CURVE_25519``/``CURVE_SM2``), ``{input}`` and ``{output}`` (CSV paths, column
    ``id``), ``{addrs}`` (direct: ``host:port`` of rank 0 and rank 1, comma-separated),
    ``{transport}`` (blackbox: the kit's relay ``host:port``), ``{session}``, ``{token}``,
    ``{node_ids}`` (rank 0 and rank 1, comma-separated), ``{node_id_0}``,
    ``{node_id_1}``, ``{party}`` (``guest.0``/``host.0``), ``{workdir}`` (the scenario's
    scratch directory). Values are Python format strings: a literal brace is doubled
    (``'{{"namespace": "in", "name": "data"}}'``).

    A PSI-only target (a party without a node, e.g. SecretFlow's) over ``direct`` or
    ``blackbox`` needs no ``contract_id``: the kit applies for a contract only when a
    check that runs needs one (``conformance.setup.needs_contract``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: ``direct``: PPCA gRPC ``ReceiverService/Push`` between the parties' addresses;
    #: ``blackbox``: BFIA push/pop through a transport module (the kit's relay);
    #: ``node``: the party pushes through its own node's transport, which forwards
    #: east-west to the kit (the contract's address), as between two nodes.
    link: Literal["direct", "blackbox", "node"] = "direct"
    #: Direct: the target party's ``host:port`` (its listen address).
    address: str | None = None
    #: Direct: where the kit's own party listens (``host:port``); a free port if unset.
    kit_address: str | None = None
    #: Blackbox: where the kit's relay (the target's transport module) listens.
    relay_listen: str = "127.0.0.1:0"
    #: The target's node id on the transport (blackbox headers).
    node_id: str = "TARGET"
    #: The ranks the target can take (0 = ``guest.0``, 1 = ``host.0``).
    ranks: frozenset[Literal[0, 1]] = frozenset({0, 1})
    curves: frozenset[Curve] = frozenset({Curve.CURVE25519})
    #: PPCA mode: the v2 handshake runs first (§5.1); BFIA mode (false): no handshake.
    handshake: bool = False
    #: Items on each side; half of them are common (enough that the kit's enc batch
    #: is sent in CHUNKED pieces).
    items: int = Field(default=1000, ge=200, le=100_000)
    #: The kit's link messages above this many bytes go CHUNKED (must exceed 4096).
    kit_chunk_bytes: int = Field(default=8192, gt=4096)
    #: Where, under the scenario's scratch directory (``{workdir}``), the kit writes the
    #: target's input and reads its output (CSV, ids in the first column, a header).
    input_file: str = "target_input.csv"
    output_file: str = "target_output.csv"
    #: How long the kit waits for any one message before judging the stream ended.
    stream_timeout_s: float = Field(default=20.0, gt=0)
    #: How long one scenario (the target party's whole run) may take; below the
    #: runner's per-check timeout, so a hung target is judged, not an error.
    run_timeout_s: float = Field(default=45.0, gt=0)
    #: Run the invalid-point scenario (the kit sends a point off the curve).
    invalid_point: bool = True
    #: The target party's command line, expanded per scenario.
    command: tuple[str, ...] = ()
    #: Extra environment for the command (values expanded); the kit's own is inherited.
    env: dict[str, str] = Field(default_factory=dict)
    #: Instead of ``command``: ``package.module:factory``, a callable taking this
    #: ``PsiTarget`` and returning a launcher (``isthmus.conformance.psi.launch``).
    launcher: str | None = None

    @model_validator(mode="after")
    def _how_to_start(self) -> PsiTarget:
        if not self.command and not self.launcher:
            raise ValueError("psi needs a command or a launcher to start the target's party")
        if self.command and self.launcher:
            raise ValueError("psi takes a command or a launcher, not both")
        if not self.ranks or not self.curves:
            raise ValueError("psi needs at least one rank and one curve")
        return self

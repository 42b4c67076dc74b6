"""What every check is given: the target, the kit's identity, a recording client, ids.

A check fails by raising ``CheckFailed`` (``ctx.expect``), declares itself not
applicable by raising ``NotApplicable`` (``ctx.not_applicable``); anything else it raises
is the kit's own error. Everything a check creates on the target uses ids from
``ctx.ids`` (``cfk<run>-<kind>-<n>``, valid under the wire layer's id pattern, unique to
the run), and ``ctx.cleanup`` undoes it afterwards, in reverse order, even on failure.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from isthmus.conformance.model import Target
from isthmus.peer.signing import NodeIdentity

if TYPE_CHECKING:
    from isthmus.conformance.listener import KitListener
    from isthmus.conformance.recording import RecordingClient

Cleanup = Callable[[], Awaitable[object]]
_KIND = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


class CheckFailed(Exception):
    """The target does not do what the spec section says; the message is the reason."""


class KitError(Exception):
    """The kit could not do its part (e.g. no contract with the target): an ERROR."""


class NotApplicable(Exception):
    """The check does not apply to this target; the message says why."""


@dataclass(frozen=True)
class KitIdentity:
    """Who the kit is on the wire: the node id and key its contract with the target binds,
    and where the kit's own listener receives what the target sends back."""

    identity: NodeIdentity
    listener_address: str | None = None

    @property
    def node_id(self) -> str:
        return self.identity.node_id

    @property
    def public_key_pem(self) -> str:
        return self.identity.private_key.public_key().to_pem()


class RunIds:
    """Ids unique to one run: ``cfk<run8hex>-<kind>-<n>``."""

    def __init__(self, run: str | None = None) -> None:
        self.run = run or secrets.token_hex(4)
        self._n = 0

    @property
    def prefix(self) -> str:
        """Every id this run creates starts with it (what cleanup and audits look for)."""
        return f"cfk{self.run}-"

    def new(self, kind: str) -> str:
        if not _KIND.match(kind):
            raise ValueError(f"id kind {kind!r} must be short lower-case letters/digits/-")
        self._n += 1
        return f"{self.prefix}{kind}-{self._n}"


@dataclass
class CheckContext:
    """What one check is given: the target, the kit, the client, the listener, its ids,
    the run's shared state, and the ways to fail, skip, note and clean up."""

    target: Target
    kit: KitIdentity
    http: RecordingClient
    listener: KitListener
    ids: RunIds
    #: Shared between the checks of one run (set up by the runner: ``contract_id``, …).
    state: dict[str, Any]
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)
    divergences: list[str] = field(default_factory=list)
    cleanups: list[Cleanup] = field(default_factory=list)

    @property
    def contract_id(self) -> str:
        """The approved contract between kit and target (``KitError`` when set-up failed)."""
        contract_id = self.state.get("contract_id")
        if not isinstance(contract_id, str):
            reason = self.state.get("setup_error", "no contract was established")
            raise KitError(f"no approved contract with the target: {reason}")
        return contract_id

    def cleanup(self, fn: Cleanup) -> None:
        """Run ``fn`` after the check (reverse order of registration), even on failure."""
        self.cleanups.append(fn)

    def expect(self, condition: object, reason: str) -> None:
        if not condition:
            raise CheckFailed(reason)

    def fail(self, reason: str) -> NoReturn:
        raise CheckFailed(reason)

    def not_applicable(self, reason: str) -> NoReturn:
        raise NotApplicable(reason)

    def divergence(self, text: str) -> None:
        """A divergence the digest documents, observed: the check still passes."""
        self.divergences.append(text)

    def note(self, text: str) -> None:
        """What was verified (the reason of a PASS)."""
        self.notes.append(text)

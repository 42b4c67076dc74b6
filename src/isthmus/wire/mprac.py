"""Multi-party resource access control (MPRAC, digest §1.3): resource names, levels, and
the ``x-mprac-token-set`` header.

The spec gives the header as comma-separated ``<uniform resource name>/<level>/<token>``
and leaves the name grammar and the level numbers open (§8). Ours:

* **URN**: ``urn:bfia:<owner node id>:<type>:<resource id>``, type one of ``dataset``,
  ``project``, ``flow``, ``job``, ``model``. Ids may not contain ``/``, ``,`` or
  whitespace (they travel in the header); node ids are already restricted that way.
* **Levels**: how much a grant covers. 1 = one dataset or model; 2 = one flow or job
  (every use it names of the owner's resources); 3 = one project (every dataset the
  project lists). A requester sends its highest-level permits first; the owner checks
  each resource a request touches against the permits that cover it.
* **Token**: 32 random bytes, URL-safe base64, minted by the owner at approval. The
  owner keeps only its SHA-256 and checks grantee, resource, expiry (``time_limit``,
  epoch ms) and uses (``times_limit``) on every use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from isthmus.wire.errors import RequestError

URN_PREFIX = "urn:bfia"
_ID = r"[^/,\s:]{1,256}"
_URN = re.compile(rf"^urn:bfia:(?P<node>{_ID}):(?P<type>[a-z]+):(?P<id>[^/,\s]{{1,256}})$")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-]{16,128}$")
MAX_TOKENS = 64


class ResourceType(StrEnum):
    DATASET = "DATASET"
    PROJECT = "PROJECT"
    FLOW = "FLOW"
    JOB = "JOB"
    MODEL = "MODEL"


class Level(IntEnum):
    RESOURCE = 1  # one dataset or model
    FLOW = 2  # a flow or job: the resources it names
    PROJECT = 3  # a project: the datasets it lists


LEVELS = {
    ResourceType.DATASET: Level.RESOURCE,
    ResourceType.MODEL: Level.RESOURCE,
    ResourceType.FLOW: Level.FLOW,
    ResourceType.JOB: Level.FLOW,
    ResourceType.PROJECT: Level.PROJECT,
}


class BadTokenSet(RequestError):
    """``x-mprac-token-set`` does not follow the grammar."""


@dataclass(frozen=True)
class TokenRef:
    owner_node_id: str
    resource_type: ResourceType
    resource_id: str
    level: int
    token: str

    @property
    def urn(self) -> str:
        return urn(self.owner_node_id, self.resource_type, self.resource_id)

    def header_item(self) -> str:
        return f"{self.urn}/{self.level}/{self.token}"


def urn(owner_node_id: str, resource_type: ResourceType, resource_id: str) -> str:
    return f"{URN_PREFIX}:{owner_node_id}:{resource_type.value.lower()}:{resource_id}"


def format_token_set(refs: list[TokenRef]) -> str:
    """Highest level first, as the spec asks."""
    ordered = sorted(refs, key=lambda r: -r.level)
    return ",".join(r.header_item() for r in ordered)


def parse_token_set(header: str | None) -> list[TokenRef]:
    """Every tuple of the header; ``BadTokenSet`` names the first malformed one."""
    if not header or not header.strip():
        return []
    items = [item.strip() for item in header.split(",") if item.strip()]
    if len(items) > MAX_TOKENS:
        raise BadTokenSet(f"x-mprac-token-set: more than {MAX_TOKENS} permits")
    refs = []
    for position, item in enumerate(items):
        parts = item.rsplit("/", 2)
        if len(parts) != 3:
            raise BadTokenSet(f"x-mprac-token-set[{position}]: not '<urn>/<level>/<token>'")
        name, level, token = parts
        match = _URN.match(name)
        if match is None:
            raise BadTokenSet(
                f"x-mprac-token-set[{position}]: {name[:80]!r} is not urn:bfia:<node>:<type>:<id>"
            )
        try:
            kind = ResourceType(match["type"].upper())
        except ValueError:
            raise BadTokenSet(
                f"x-mprac-token-set[{position}]: unknown resource type {match['type']!r}"
            ) from None
        if not level.isdigit() or not 1 <= int(level) <= 9:
            raise BadTokenSet(f"x-mprac-token-set[{position}]: level {level[:8]!r} is not 1-9")
        if not _TOKEN.match(token):
            raise BadTokenSet(f"x-mprac-token-set[{position}]: malformed token")
        refs.append(TokenRef(match["node"], kind, match["id"], int(level), token))
    return refs

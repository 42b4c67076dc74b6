"""The BFIA response envelope ``{code, msg, data}``.

Strict in what we send (``code`` 0 on success, as BFIA v1.1+ says), tolerant in what we
accept: v1.0 peers and Kuscia still answer 200 for success (digest §1.2 [Δ]).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from isthmus.wire.errors import ErrorCode

#: Success codes a partner may use; we only ever send 0.
PEER_SUCCESS_CODES = frozenset({0, 200})


class Envelope(BaseModel):
    """Every BFIA REST reply, success or error."""

    model_config = ConfigDict(extra="allow")

    code: int = Field(description="0 = OK; anything else is an error from the catalogue")
    msg: str = ""
    data: Any = None

    @property
    def ok(self) -> bool:
        """True for a success code from any BFIA dialect."""
        return self.code in PEER_SUCCESS_CODES


def ok(data: Any = None, msg: str = "success") -> dict[str, Any]:
    """The success envelope we send; ``data`` defaults to an empty object, as peers expect."""
    return {"code": int(ErrorCode.OK), "msg": msg, "data": {} if data is None else data}


def error(code: int, msg: str, data: Any = None) -> dict[str, Any]:
    """An error envelope; ``data`` carries machine-readable details when there are any."""
    return {"code": int(code), "msg": msg, "data": data}

"""How the kit reaches the target's ECDH-PSI party (placeholder; conf-psi owns this file).

The core only needs the name: ``Target.psi`` is a ``PsiTarget``. Unknown fields are kept
so that a target file written for the full model loads before conf-psi's fields land.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PsiTarget(BaseModel):
    """Where and how the target's PSI party runs (fields: conf-psi)."""

    model_config = ConfigDict(extra="allow", frozen=True)

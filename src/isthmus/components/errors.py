"""Every error a component run can end with, in one place, each with its exit code.

The container's exit code is the final word of a run (digest §2.7): 0 success, anything
else failure. Distinct codes let an operator tell "the platform gave a bad environment"
from "the parameters are wrong" from "the algorithm failed" without reading the log.
"""

from __future__ import annotations


class ComponentError(Exception):
    """Base of every failure of a component run."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ContractError(ComponentError):
    """The container environment breaks the BFIA contract (a missing or malformed
    ``system.*`` / ``config.*`` / ``runtime.component.*`` variable)."""

    exit_code = 64  # EX_USAGE


class UnknownComponent(ContractError):
    """``runtime.component.name`` names no component of this image."""


class ParameterError(ComponentError):
    """A parameter fails the component's self-description (type, validator, missing)."""

    exit_code = 65  # EX_DATAERR

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"parameter {name!r}: {problem}")
        self.name = name


class StorageError(ComponentError):
    """An input cannot be read or an output written through ``system.storage``."""

    exit_code = 66  # EX_NOINPUT


class AlgorithmError(ComponentError):
    """The algorithm itself failed (a broken peer, inconsistent data, a timeout)."""

    exit_code = 70  # EX_SOFTWARE

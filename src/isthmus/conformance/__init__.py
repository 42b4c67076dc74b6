"""The BFIA conformance kit: checks any node against the interconnection interfaces.

``isthmus.conformance`` plays the partner (and, for south-north transport, the algorithm
container) against a *target* node and records, for every check, the spec section, what
was sent, what came back (secrets redacted) and pass / fail / not applicable with the
reason. It is a library first (``runner.run``, the pytest plugin) and a command second
(``isthmus conformance``). It sits above ``isthmus.testing`` and below ``isthmus.cli``.
"""

from isthmus.conformance.context import CheckContext, CheckFailed, KitIdentity, NotApplicable
from isthmus.conformance.model import CheckResult, Exchange, Outcome, Part, Target
from isthmus.conformance.registry import Check, Registry, check
from isthmus.conformance.report import Report
from isthmus.conformance.runner import run

__all__ = [
    "Check",
    "CheckContext",
    "CheckFailed",
    "CheckResult",
    "Exchange",
    "KitIdentity",
    "NotApplicable",
    "Outcome",
    "Part",
    "Registry",
    "Report",
    "Target",
    "check",
    "run",
]

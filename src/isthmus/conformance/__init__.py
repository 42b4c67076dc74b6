"""The BFIA conformance kit: checks any node against the interconnection interfaces.

``isthmus.conformance`` plays the partner (and, for south-north transport, the algorithm
container) against a *target* node and records, for every check, the spec section, what
was sent, what came back (secrets redacted) and pass / fail / not applicable with the
reason. It is a library first (``runner.run``, the pytest plugin) and a command second
(``isthmus conformance``). It sits above ``isthmus.testing`` and below ``isthmus.cli``.
"""

from isthmus.conformance.model import CheckResult, Exchange, Outcome, Part, Target

__all__ = ["CheckResult", "Exchange", "Outcome", "Part", "Target"]

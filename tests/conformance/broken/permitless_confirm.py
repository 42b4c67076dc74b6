"""A node whose approval confirms leave out the ``resource_permit`` (defect: an APPROVED
``<resource>/audit/confirm`` without the permit of §1.3). The permit is still granted
and kept on the node; the partner just never receives it."""

from typing import Any

from isthmus.management.approvals import ApprovalService

_tell = ApprovalService._tell


def _without_permit(self: ApprovalService, s: Any, peer: str, path: str, body: Any) -> None:
    if path.endswith("/audit/confirm"):
        body = {k: v for k, v in body.items() if k != "resource_permit"}
    _tell(self, s, peer, path, body)


ApprovalService._tell = _without_permit  # type: ignore[method-assign]

from isthmus.cli.main import main  # noqa: E402 - the patch must come first

main()

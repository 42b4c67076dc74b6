"""A node whose request signature check accepts any signature (defect: signature
verification disabled). Presence, freshness, nonces and contracts are still checked."""

import isthmus.node.auth as auth

auth.verify_signature = lambda *_args, **_kwargs: True  # type: ignore[assignment]

from isthmus.cli.main import main  # noqa: E402 - the patch must come first

main()

"""``isthmus console``: the operator console's address and a one-time sign-in link.

The link signs the browser in as whoever asks (root by default, or the token in
``ISTHMUS_TOKEN``; the admin role is needed), once, within 10 minutes: the token itself
never goes into a URL, a browser history or a terminal's scroll-back."""

from __future__ import annotations

from typing import Any

from isthmus.cli.common import AsJson, Home, call, emit, out
from isthmus.wire.paths import ADMIN_CONSOLE_LINKS


def console(home: Home, as_json: AsJson = False) -> None:
    """Print the console's URL and a one-time sign-in link (10 minutes, works once)."""
    data = call(home, "POST", ADMIN_CONSOLE_LINKS, {})

    def render(d: dict[str, Any]) -> None:
        out.print(f"console: {d['console']}")
        minutes = int(d["expires_in_s"]) // 60
        out.print(
            f"one-time sign-in link for {d['principal']} (works once, within {minutes} "
            f"minutes):\n{d['url']}",
            soft_wrap=True,
        )

    emit(data, as_json, render)

"""Task status reports to ``system.callback`` (digest §2.2: ``task_id, status, role``).

The callback is a courtesy: the exit code is the final word, so a callback that cannot
be delivered is logged and retried briefly, never fatal. Its HTTP client is made (and
``httpx`` imported) at the first report with somewhere to go: a container run without a
callback address should not pay for it at start-up.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)


class Callback:
    def __init__(
        self,
        url: str | None,
        task_id: str,
        role: str,
        *,
        attempts: int = 3,
        timeout_s: float = 5.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.url = url
        self.task_id = task_id
        self.role = role
        self.attempts = attempts
        self.timeout_s = timeout_s
        self._client = client

    def _http(self) -> httpx.Client:
        if self._client is None:
            import httpx  # only when there is a report to deliver

            self._client = httpx.Client(timeout=self.timeout_s)
        return self._client

    def report(self, status: str) -> bool:
        """POST the status; True if the platform acknowledged it (HTTP 2xx)."""
        if not self.url:
            return False
        import httpx  # see _http

        client = self._http()
        body = {"task_id": self.task_id, "status": status, "role": self.role}
        for attempt in range(1, self.attempts + 1):
            try:
                response = client.post(self.url, json=body)
                if response.is_success:
                    return True
                problem = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                problem = type(exc).__name__
            log.warning(
                "callback %s of task %s not delivered (%s), attempt %d/%d",
                status,
                self.task_id,
                problem,
                attempt,
                self.attempts,
            )
            if attempt < self.attempts:
                time.sleep(0.5 * attempt)
        return False

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

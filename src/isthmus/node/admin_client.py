"""A small synchronous client of the admin API, for the CLI and the test harness.

It authenticates with a bearer token and nothing else: the node names the token behind a
call as its actor (``node.rbac.actor_of``), so the client sends no caller-chosen name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from isthmus.node.config import NodeConfig, load_config
from isthmus.node.home import read_admin_token
from isthmus.wire.envelope import Envelope
from isthmus.wire.errors import IsthmusError, PeerProtocolError, PeerUnreachable
from isthmus.wire.paths import ADMIN, BFIA, PROBES, SECURE_OPERATE


class AdminApiError(IsthmusError):
    """The node answered with an error envelope; ``code`` is the node's code."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message, details={"code": code, "data": data})
        self.node_code = code


class AdminClient:
    def __init__(self, base_url: str, token: str, *, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout_s,
            headers={"authorization": f"Bearer {token}"},
        )

    @classmethod
    def for_home(cls, home: Path, *, timeout_s: float = 30.0) -> AdminClient:
        config = load_config(home)
        return cls(config.admin_url, read_admin_token(config), timeout_s=timeout_s)

    @classmethod
    def for_config(cls, config: NodeConfig, *, timeout_s: float = 30.0) -> AdminClient:
        return cls(config.admin_url, read_admin_token(config), timeout_s=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        url = _url(path)
        try:
            response = self._http.request(method, url, json=json, params=params)
        except httpx.HTTPError as exc:
            raise PeerUnreachable(
                f"the node's admin API at {self.base_url} does not answer ({type(exc).__name__}):"
                " is the node running? (`isthmus node status`)"
            ) from exc
        try:
            envelope = Envelope.model_validate(response.json())
        except ValueError as exc:
            raise PeerProtocolError(
                f"{self.base_url}{url} answered HTTP {response.status_code} without an envelope"
            ) from exc
        if not envelope.ok:
            raise AdminApiError(envelope.code, envelope.msg, envelope.data)
        return envelope.data

    def post_document(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST and return the JSON document as it came, whatever its ``code``: for the
        services whose replies are not the BFIA envelope (the secure operator service)."""
        try:
            response = self._http.post(_url(path), json=body)
        except httpx.HTTPError as exc:
            raise PeerUnreachable(
                f"the node's admin API at {self.base_url} does not answer ({type(exc).__name__})"
            ) from exc
        try:
            document = response.json()
        except ValueError as exc:
            raise PeerProtocolError(
                f"{self.base_url}{path} answered HTTP {response.status_code}, not JSON"
            ) from exc
        if not isinstance(document, dict):
            raise PeerProtocolError(f"{self.base_url}{path} answered {type(document).__name__}")
        return document

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, json=body or {})

    def raw_get(self, path: str) -> httpx.Response:
        return self._http.get(_url(path))


def _url(path: str) -> str:
    """The URL path of a call: the probes, the spec's north-south paths (``/v1/...``) and
    whole admin paths (``wire.paths.ADMIN_*``) as they are; a short admin path such as
    ``/contracts`` under ``/admin/v1``."""
    if path in PROBES or path.startswith((f"{BFIA}/", f"{ADMIN}/", f"{SECURE_OPERATE}/")):
        return path
    return ADMIN + path

"""A minimal keep-alive HTTP/1.1 client for benchmark components.

The component side of the transport benchmark stands for SecretFlow's C++ brpc client;
httpx spends about a millisecond of CPU per request, which on a 2-core machine shared
with both nodes would measure the client instead of the node. This speaks just enough
HTTP/1.1 (one connection, one request at a time, Content-Length bodies) to drive the
south-north API.
"""

from __future__ import annotations

import asyncio


class HttpConnection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
        """POST and return the response body (raises on a non-200 status)."""
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(
                self.host, self.port, limit=1 << 20
            )
        assert self._reader is not None
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._writer.write(
            (
                f"POST {path} HTTP/1.1\r\nhost: {self.host}\r\n{head}"
                f"content-length: {len(body)}\r\n\r\n"
            ).encode("latin-1")
        )
        if body:
            self._writer.write(body)
        await self._writer.drain()
        status_and_headers = await self._reader.readuntil(b"\r\n\r\n")
        lines = status_and_headers.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        data = await self._reader.readexactly(length) if length else b""
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {data[:200]!r}")
        return data

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

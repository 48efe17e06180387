"""How error messages quote what a client sent: repr, cut to a few dozen characters, so that a
huge value cannot blow up the status message (grpc's metadata limit is 8 KiB on the client)."""
from __future__ import annotations

from typing import Any

LIMIT = 64


def echo(value: Any, limit: int = LIMIT) -> str:
    """repr(value), or its first `limit` characters + "… (N bytes)" when longer."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = len(value.encode("utf-8", "surrogatepass")) if isinstance(value, str) else len(value) if isinstance(value, (bytes, bytearray)) else len(text)
    return f"{text[:limit]}… ({size} bytes)"

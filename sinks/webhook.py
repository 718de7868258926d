"""Alert webhook: signed JSON posts to an on-call tool, retried with back-off.

The signature lets a receiver check that a post comes from this platform and is fresh:
``X-Fraudwatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`` with the shared
webhook secret (the scheme Stripe and others use). `verify` is the receiver's side, for tests and for
receivers written in Python. Every post also names its event (``X-Fraudwatch-Event``, unique per alert
and state), so a receiver that gets a retried post twice can tell.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from enum import Enum
from typing import Final

import httpx

log = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "X-Fraudwatch-Signature"
EVENT_HEADER: Final = "X-Fraudwatch-Event"
# Answers worth trying again; any other 4xx means the receiver will never take this post.
_TRANSIENT_CLIENT_ERRORS: Final = {408, 409, 425, 429}


class Outcome(Enum):
    DELIVERED = "delivered"
    FAILED = "failed"  # worth retrying later
    REFUSED = "refused"  # a permanent error from the receiver


def signature(secret: bytes, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: bytes, body: bytes, header: str, now: float | None = None, tolerance_s: float = 300) -> bool:
    """Whether `header` signs `body` with `secret` and is at most `tolerance_s` old."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, body, timestamp), f"t={timestamp},v1={parts.get('v1', '')}")


class WebhookSender:
    """Posts signed bodies to one URL; a post is tried `attempts` times with doubling pauses."""

    def __init__(self, url: str, secret: bytes, timeout_s: float = 5.0, attempts: int = 3, pause_s: float = 0.5):
        self.url, self.secret, self.attempts, self.pause_s = url, secret, attempts, pause_s
        self.client = httpx.AsyncClient(timeout=timeout_s)

    async def post(self, body: bytes, event_id: str) -> Outcome:
        pause = self.pause_s
        for attempt in range(1, self.attempts + 1):
            headers = {
                "Content-Type": "application/json",
                EVENT_HEADER: event_id,
                SIGNATURE_HEADER: signature(self.secret, body, int(time.time())),
            }
            try:
                response = await self.client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    return Outcome.DELIVERED
                if 400 <= response.status_code < 500 and response.status_code not in _TRANSIENT_CLIENT_ERRORS:
                    log.error(
                        "webhook refused the alert; not retrying",
                        extra={"event_id": event_id, "status": response.status_code, "url": self.url},
                    )
                    return Outcome.REFUSED
                problem = f"HTTP {response.status_code}"
            log.warning("webhook post failed", extra={"event_id": event_id, "attempt": attempt, "error": problem})
            if attempt < self.attempts:
                await asyncio.sleep(pause)
                pause *= 2
        return Outcome.FAILED

    async def close(self) -> None:
        await self.client.aclose()

"""A small Python client for the producer API, for reporting apps, hotline desks and scripts."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import httpx

from fraudwatch.errors import FraudwatchError


class ApiError(FraudwatchError):
    """The API refused a request; `status` and `detail` say why."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class FraudwatchClient:
    """Submits reports; retries 503 answers (the broker was briefly unavailable) as told by Retry-After."""

    def __init__(self, base_url: str, token: str, *, timeout_s: float = 30.0, retries: int = 3) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout_s, headers={"Authorization": f"Bearer {token}"}
        )
        self._retries = retries

    def __enter__(self) -> FraudwatchClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def submit(self, report: dict[str, Any], *, idempotency_key: str | None = None) -> str:
        """Submit one report; returns its report_id once Kafka holds it."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        body = self._post("/api/v1/reports", report, headers, accept=(202,))
        return str(body["report_id"])

    def submit_batch(self, reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Submit up to the server's batch limit; returns the per-item answer."""
        return self._post("/api/v1/reports/batch", {"reports": list(reports)}, {}, accept=(200,))

    def _post(self, path: str, body: Any, headers: dict[str, str], accept: tuple[int, ...]) -> dict[str, Any]:
        for attempt in range(self._retries + 1):
            try:
                response = self._http.post(path, json=body, headers=headers)
            except httpx.TransportError as exc:
                if attempt == self._retries:
                    raise ApiError(0, f"cannot reach {self._http.base_url}: {exc}") from exc
                time.sleep(min(2.0**attempt, 10.0))
                continue
            if response.status_code == 503 and attempt < self._retries:
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            if response.status_code not in accept:
                try:
                    detail: Any = response.json()
                except ValueError:
                    detail = response.text
                raise ApiError(response.status_code, detail)
            result: dict[str, Any] = response.json()
            return result
        raise AssertionError("unreachable: the loop returns or raises")

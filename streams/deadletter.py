"""Dead letters: what is kept of a raw-topic message that could not be processed.

The payload is never copied as is: a message that bypassed the API could carry raw identifiers, so
only a digest, its size and a redacted preview travel to the dead-letter topic and ClickHouse.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from fraudwatch.pii import redact
from streams.facts import SourcePosition

PREVIEW_CHARS = 2000
DEAD_LETTER_COLUMNS = (
    "src_topic", "src_epoch", "src_partition", "src_offset", "error", "payload_sha256", "payload_bytes",
    "payload_preview",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DeadLetter:
    position: SourcePosition
    error: str
    payload_sha256: str
    payload_bytes: int
    payload_preview: str

    def row(self) -> list[object]:
        p = self.position
        return [p.topic, p.epoch, p.partition, p.offset, self.error, self.payload_sha256, self.payload_bytes,
                self.payload_preview]  # fmt: skip

    def to_json(self) -> bytes:
        body = asdict(self)
        return json.dumps(body, ensure_ascii=False).encode()


def dead_letter(position: SourcePosition, payload: bytes | None, error: str, key: bytes) -> DeadLetter:
    raw = payload or b""
    preview, _ = redact(raw[: PREVIEW_CHARS * 4].decode("utf-8", errors="replace")[:PREVIEW_CHARS], key)
    return DeadLetter(
        position=position,
        error=error[:1000],
        payload_sha256=hashlib.sha256(raw).hexdigest(),
        payload_bytes=len(raw),
        payload_preview=preview,
    )

"""API tokens and roles: who may submit reports and who may read.

Tokens are configured as SHA-256 digests (never in clear), each naming its holder and, for
submitters, the channel its reports come from. Presented tokens are hashed and compared in
constant time against every configured digest.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from fraudwatch.errors import ConfigurationError


class Role(StrEnum):
    SUBMITTER = "submitter"
    ANALYST = "analyst"


@dataclass(frozen=True)
class Principal:
    name: str
    roles: frozenset[Role]
    channel: str | None = None


@dataclass(frozen=True)
class _Entry:
    digest: bytes
    principal: Principal


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "fw_" + secrets.token_urlsafe(24)


class TokenRegistry:
    def __init__(self, entries: list[_Entry]) -> None:
        self._entries = entries

    @property
    def empty(self) -> bool:
        return not self._entries

    @classmethod
    def from_settings(cls, dev_token: str | None, tokens_file: Path | None) -> TokenRegistry:
        entries: list[_Entry] = []
        if dev_token:
            developer = Principal("development", frozenset(Role))
            entries.append(_Entry(bytes.fromhex(token_digest(dev_token)), developer))
        if tokens_file is not None:
            entries.extend(_read_tokens_file(tokens_file))
        return cls(entries)

    def authenticate(self, authorization: str | None) -> Principal | None:
        """The principal a `Bearer` header belongs to, or None."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        presented = hashlib.sha256(authorization[7:].strip().encode()).digest()
        found: Principal | None = None
        for entry in self._entries:  # no early exit: timing must not tell how far the match got
            if hmac.compare_digest(presented, entry.digest):
                found = entry.principal
        return found


def _read_tokens_file(path: Path) -> list[_Entry]:
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"cannot read the tokens file {path}: {exc}") from exc
    if not isinstance(items, list):
        raise ConfigurationError(f"{path}: expected a JSON list of tokens")
    entries = []
    for number, item in enumerate(items, 1):
        try:
            roles = frozenset(Role(r) for r in item["roles"])
            digest = bytes.fromhex(item["sha256"])
            if len(digest) != 32 or not roles:
                raise ValueError("sha256 must be 64 hex digits and roles non-empty")
            entries.append(_Entry(digest, Principal(str(item["name"]), roles, item.get("channel"))))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"{path}: token #{number} is invalid ({exc}); each needs name, roles, sha256"
            ) from exc
    return entries

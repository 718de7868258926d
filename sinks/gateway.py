"""ClickHouse HTTP interface served from the embedded chDB engine.

chDB lets only one process open a data directory. ``fraudwatch up`` is that process: it opens the
engine once and serves the subset of ClickHouse's HTTP protocol that clickhouse-connect, curl and
Grafana's ClickHouse plugin (HTTP mode) use. Every other process (the worker, ``fraudwatch query``,
dashboards) therefore talks to the embedded engine exactly as it would talk to a ClickHouse server:
same client, same code path, only the URL differs.

Supported: query text in the body or in the ``query`` parameter, data in the body for INSERTs
(plain, chunked, lz4/zstd/gzip-encoded), ``param_*`` bound parameters, ``database``, settings as
URL parameters, ``default_format``, and ClickHouse-style error responses.
"""

from __future__ import annotations

import email.policy
import gzip
import json
import logging
import re
import shutil
import socket
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from email.parser import BytesParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import chdb

log = logging.getLogger(__name__)

# Parameters that belong to the HTTP transport, not to the engine.
TRANSPORT_PARAMS = frozenset(
    {
        "query", "database", "default_format", "buffer_size", "session_id", "session_timeout",
        "session_check", "query_id", "quota_key", "compress", "decompress", "wait_end_of_query",
        "client_protocol_version", "role", "send_progress_in_http_headers",
        "http_headers_progress_interval_ms", "enable_http_compression", "user", "password",
    }
)  # fmt: skip
_TRAILING_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INSERT = re.compile(r"^\s*INSERT\s+INTO\b", re.IGNORECASE)
_CHANGES_SESSION = re.compile(r"^\s*(USE|SET)\b", re.IGNORECASE)
_ERROR_CODE = re.compile(r"Code:\s*(\d+)")
# ClickHouse accepts `INSERT ... FORMAT X` followed by the data in one body; the statement ends at
# the first line break after the FORMAT clause.
_INLINE_INSERT = re.compile(rb"^\s*INSERT\s+INTO\s[^\n]*?\bFORMAT\s+\w+[ \t]*\r?\n?", re.IGNORECASE)


class GatewayError(Exception):
    def __init__(self, message: str, code: int = 1000, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def _decode_body(body: bytes, encoding: str | None) -> bytes:
    if not encoding or encoding == "identity" or not body:
        return body
    if encoding == "gzip":
        return gzip.decompress(body)
    # clickhouse-connect compresses each insert block as a frame of its own: decode every frame.
    if encoding == "lz4":
        import lz4.frame

        parts, rest = [], body
        while rest:
            decoder = lz4.frame.LZ4FrameDecompressor()
            parts.append(decoder.decompress(rest))
            rest = decoder.unused_data
        return b"".join(parts)
    if encoding == "zstd":
        import zstandard

        return bytes(zstandard.ZstdDecompressor().decompressobj(read_across_frames=True).decompress(body))
    raise GatewayError(f"unsupported Content-Encoding {encoding!r}")


def _form_fields(content_type: str, body: bytes) -> dict[str, str] | None:
    """The fields of a form-encoded request (multipart or urlencoded), None when the body is not a form.

    clickhouse-connect sends the query and its bound parameters as a multipart form when they are too
    large for a URL. Form files carry external data tables, which the embedded engine cannot take."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    if kind != "multipart/form-data":
        return None
    plain = _plain_multipart_fields(content_type, body)
    return plain if plain is not None else _multipart_fields(content_type, body)


def _multipart_fields(content_type: str, body: bytes) -> dict[str, str]:
    """Any multipart form's fields, by the standard library's MIME parser."""
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise GatewayError("malformed multipart form: no parts found", code=27)
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise GatewayError("malformed multipart form: a part has no name", code=27)
        if part.get_filename() is not None:
            raise GatewayError("external data tables are not supported by the embedded ClickHouse gateway", code=48)
        payload = part.get_payload(decode=True)
        fields[name] = payload.decode(part.get_content_charset() or "utf-8") if isinstance(payload, bytes) else ""
    return fields


_BOUNDARY = re.compile(r'boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))', re.IGNORECASE)
_PLAIN_PART_HEAD = re.compile(
    rb'Content-Disposition: form-data; name="([A-Za-z0-9_.-]+)"(?:\r\nContent-Type: text/plain(?:; charset=utf-8)?)?',
    re.IGNORECASE,
)


def _plain_multipart_fields(content_type: str, body: bytes) -> dict[str, str] | None:
    """The fields of a form whose parts are all plain named text fields, as clients write them; None for
    anything else (files, transfer encodings, other charsets, folded headers), which the general parser
    takes. The general parser spent ~3.5 ms on each 80 KB form of a leak lookup, a fast one ~0.1 ms."""
    match = _BOUNDARY.search(content_type)
    if match is None:
        return None
    delimiter = b"--" + (match.group(1) or match.group(2)).encode("latin-1")
    pieces = body.split(delimiter)
    # Before the first delimiter only an (ignored) preamble; after the last one "--" ends the form.
    if len(pieces) < 3 or not pieces[-1].startswith(b"--"):
        return None
    fields: dict[str, str] = {}
    for piece in pieces[1:-1]:
        head_end = piece.find(b"\r\n\r\n")
        if not piece.startswith(b"\r\n") or head_end < 0 or not piece.endswith(b"\r\n"):
            return None
        head = _PLAIN_PART_HEAD.fullmatch(piece, 2, head_end)
        if head is None:
            return None
        try:
            fields[head.group(1).decode("ascii")] = piece[head_end + 4 : -2].decode("utf-8")
        except UnicodeDecodeError:
            return None
    return fields


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass
class _Session:
    """A serving thread's chDB handle and the database and settings last put on it.

    Requests nearly always carry the same settings (clickhouse-connect sends three with every
    request), so a handle keeps them between requests and only the differences are SET; each
    statement still runs with exactly its request's settings and the others at their defaults.
    """

    conn: Any
    database: str = "default"
    settings: dict[str, str] = field(default_factory=dict)

    def prepare(self, database: str | None, settings: dict[str, str]) -> None:
        wanted = database or "default"
        if wanted != self.database:
            self.database = ""  # unknown until USE succeeds
            self.conn.query(f"USE {wanted}")
            self.database = wanted
        for name in [n for n in self.settings if n not in settings]:
            del self.settings[name]  # at its default or unknown: either way not applied any more
            self.conn.query(f"SET {name} = DEFAULT")
        for name, value in settings.items():
            if self.settings.get(name) != value:
                self.settings.pop(name, None)
                self.conn.query(f"SET {name} = {_quote(value)}")
                self.settings[name] = value


class ChdbEngine:
    """The process's single chDB engine, with one connection handle per serving thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self._root = chdb.connect(str(path))  # opening here surfaces a locked directory at start-up
        self._local = threading.local()
        self._handles: list[Any] = [self._root]
        self._lock = threading.Lock()
        self._spool = Path(tempfile.mkdtemp(prefix="fraudwatch-insert-"))

    def _session(self) -> _Session:
        session: _Session | None = getattr(self._local, "session", None)
        if session is None:
            session = _Session(chdb.connect(str(self.path)))
            self._local.session = session
            with self._lock:
                self._handles.append(session.conn)
        return session

    def execute(
        self,
        sql: str,
        *,
        data: bytes | None,
        params: dict[str, str],
        settings: dict[str, str],
        database: str | None,
        default_format: str,
    ) -> tuple[bytes, str]:
        """Run one statement; returns (result bytes, result format)."""
        session = self._session()
        for name in settings:
            if not _SETTING_NAME.match(name):
                raise GatewayError(f"invalid setting name {name!r}", code=115)
        statement = sql.strip().rstrip(";")
        spooled: Path | None = None
        match = _TRAILING_FORMAT.search(statement)
        fmt = match.group(1) if match else default_format
        if data is not None and data and _INSERT.match(statement):
            # chDB ingests insert payloads from a file, not from the statement text.
            if match is None:
                raise GatewayError("INSERT with data must name its FORMAT", code=62)
            spooled = self._spool / f"{uuid.uuid4().hex}.bin"
            spooled.write_bytes(data)
            statement = f"{statement[: match.start()]} FROM INFILE {_quote(str(spooled))} FORMAT {fmt}"
        conn = session.conn
        try:
            session.prepare(database, settings)
            result = conn.query(statement, fmt, params=params) if params else conn.query(statement, fmt)
            return bytes(result.bytes() or b""), fmt
        except GatewayError:
            raise
        except Exception as exc:  # chDB raises its own error type carrying ClickHouse's message
            message = str(exc)
            code_match = _ERROR_CODE.search(message)
            raise GatewayError(
                message[message.find("Code:") :] if code_match else message,
                code=int(code_match.group(1)) if code_match else 1000,
                status=HTTPStatus.INTERNAL_SERVER_ERROR,
            ) from exc
        finally:
            if _CHANGES_SESSION.match(statement):
                # The statement moved the handle's database or settings where _Session cannot follow:
                # the thread's next request gets a fresh handle.
                self._local.session = None
            if spooled is not None:
                spooled.unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            for handle in self._handles:
                try:
                    handle.close()
                except Exception:  # closing is best effort at shutdown
                    log.debug("closing a chDB handle failed", exc_info=True)
            self._handles.clear()
        shutil.rmtree(self._spool, ignore_errors=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _GatewayServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the worker polls often
        return

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _respond(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._handle(b"")

    def do_POST(self) -> None:
        self._handle(self._read_body())

    def _handle(self, raw_body: bytes) -> None:
        url = urlsplit(self.path)
        if url.path in ("/ping", "/health"):
            self._respond(200, b"Ok.\n", {"Content-Type": "text/plain"})
            return
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        query_id = params.get("query_id") or str(uuid.uuid4())
        try:
            body = _decode_body(raw_body, self.headers.get("Content-Encoding"))
            form = _form_fields(self.headers.get("Content-Type", ""), body)
            if form is not None:  # query and bound parameters sent as a form (clients do so for large ones)
                params.update(form)
                body = b""
            if "query" in params:
                sql, data = params["query"], body
            elif head := _INLINE_INSERT.match(body):
                sql, data = head.group(0).decode("utf-8"), body[head.end() :]
            else:
                sql, data = body.decode("utf-8"), None
            if not sql.strip():
                raise GatewayError("Empty query", code=62)
            bound = {k[len("param_") :]: v for k, v in params.items() if k.startswith("param_")}
            settings = {k: v for k, v in params.items() if k not in TRANSPORT_PARAMS and not k.startswith("param_")}
            if data is not None and not data and not _INSERT.match(sql):
                data = None
            result, fmt = self.server.engine.execute(
                sql,
                data=data,
                params=bound,
                settings=settings,
                database=params.get("database"),
                default_format=params.get("default_format", "TabSeparated"),
            )
        except GatewayError as exc:
            self._respond(
                exc.status,
                f"Code: {exc.code}. DB::Exception: {exc}\n".encode()
                if not str(exc).startswith("Code:")
                else f"{exc}\n".encode(),
                {
                    "Content-Type": "text/plain; charset=UTF-8",
                    "X-ClickHouse-Exception-Code": str(exc.code),
                    "X-ClickHouse-Query-Id": query_id,
                },
            )
            return
        except Exception as exc:  # never let one bad request kill the serving thread silently
            log.exception("gateway request failed")
            self._respond(500, f"Code: 1001. DB::Exception: {exc}\n".encode(), {"X-ClickHouse-Exception-Code": "1001"})
            return
        self._respond(
            200,
            result,
            {
                "Content-Type": "application/octet-stream" if fmt in ("Native", "RowBinary") else "text/plain",
                "X-ClickHouse-Format": fmt,
                "X-ClickHouse-Timezone": self.server.timezone,
                "X-ClickHouse-Query-Id": query_id,
                "X-ClickHouse-Summary": json.dumps({"read_rows": "0", "written_rows": "0"}),
            },
        )


class _GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        # Small request/response pairs otherwise wait out Nagle's algorithm (~40 ms per round trip).
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address

    def __init__(self, address: tuple[str, int], engine: ChdbEngine, timezone: str) -> None:
        super().__init__(address, _Handler)
        self.engine = engine
        self.timezone = timezone


class ClickHouseGateway:
    """Owns the embedded engine and serves it on host:port until stopped."""

    def __init__(self, path: Path, host: str, port: int, timezone: str = "UTC") -> None:
        self.engine = ChdbEngine(path)
        self._server = _GatewayServer((host, port), self.engine, timezone)
        self._thread = threading.Thread(target=self._server.serve_forever, name="clickhouse-gateway", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ClickHouseGateway:
        self._thread.start()
        log.info("embedded ClickHouse serving", extra={"url": self.url, "path": str(self.engine.path)})
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.engine.close()

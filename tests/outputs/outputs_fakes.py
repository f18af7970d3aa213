"""Real HTTP servers on 127.0.0.1 for output tests: a webhook receiver and a `_bulk` endpoint."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Recorder:
    """What a fake server received, and how it should answer next."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.statuses: list[int] = []  # answers to give, first to last; then 200
        self.headers_out: dict[str, str] = {}
        self.stored: dict[str, dict[str, Any]] = {}  # _bulk: index/_id -> document
        self.reject_ids: set[str] = set()
        self.product = "Elasticsearch"


def _handler(rec: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def _reply(self, status: int, body: dict[str, Any], extra: dict[str, str]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            for key, value in extra.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            rec.requests.append((self.command, self.path, dict(self.headers), body))
            if self.path.split("?")[0].endswith("/_bulk"):
                self._bulk(body)
                return
            status = rec.statuses.pop(0) if rec.statuses else 200
            self._reply(status, {"ok": status < 300}, rec.headers_out)

        do_PUT = do_POST

        def _bulk(self, body: bytes) -> None:
            # Like Elasticsearch: answer in the compatible-with media type when asked for it.
            accept = self.headers.get("Accept", "")
            media = "application/json"
            if "vnd.elasticsearch" in accept:
                media = "application/vnd.elasticsearch+json;compatible-with=9"
            headers = {"X-Elastic-Product": rec.product, "Content-Type": media}
            content_type = self.headers.get("Content-Type", "")
            lines = [line for line in body.decode().split("\n") if line]
            # Elasticsearch accepts (x-)ndjson and, like OpenSearch, plain json for _bulk.
            if not any(kind in content_type for kind in ("ndjson", "application/json")):
                self._reply(406, {"error": f"bad content type {content_type}"}, headers)
                return
            if not body.endswith(b"\n") or len(lines) % 2:
                self._reply(
                    400, {"error": "bulk body must be action/source pairs ending in \\n"}, headers
                )
                return
            items = []
            for action_line, source_line in zip(lines[::2], lines[1::2], strict=True):
                action = json.loads(action_line)
                op, meta = next(iter(action.items()))
                source = json.loads(source_line)
                key = f"{meta['_index']}/{meta['_id']}"
                if op != "create":
                    status, error = 400, {"type": "illegal_argument_exception"}
                elif meta["_id"] in rec.reject_ids:
                    status, error = 400, {"type": "document_parsing_exception"}
                elif key in rec.stored:
                    status, error = 409, {"type": "version_conflict_engine_exception"}
                else:
                    rec.stored[key] = source
                    status, error = 201, None
                item: dict[str, Any] = {
                    "_index": meta["_index"],
                    "_id": meta["_id"],
                    "status": status,
                }
                if error:
                    item["error"] = error
                else:
                    item["result"] = "created"
                items.append({op: item})
            errors = any("error" in next(iter(i.values())) for i in items)
            self._reply(200, {"took": 1, "errors": errors, "items": items}, headers)

    return Handler


@contextmanager
def serve(port: int = 0) -> Iterator[tuple[str, Recorder]]:
    """Start a fake server on 127.0.0.1 (any free port by default); yield its URL and recorder."""
    rec = Recorder()
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(rec))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", rec
    finally:
        server.shutdown()
        server.server_close()

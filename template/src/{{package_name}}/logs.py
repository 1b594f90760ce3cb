"""JSON lines on stdout, which CloudWatch Logs Insights queries field by field: one line per
HTTP request, plus the server's own messages."""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_LOGGER = logging.getLogger(f"{__package__}.request")
# The SDK logs every stateless request at INFO ("Terminating session: None", ...),
# and its HTTP client logs every outgoing call.
NOISY_LOGGERS = ("mcp", "mcp_types", "httpx2", "uvicorn.access")

# The request being served: its id goes on every line logged meanwhile; the server adds the
# JSON-RPC method and the auth checks who called (never a token) to its request line.
_request_fields: ContextVar[dict[str, Any] | None] = ContextVar("request_fields", default=None)


def add_request_fields(**fields: str | None) -> None:
    if (current := _request_fields.get()) is not None:
        current.update(fields)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object; `extra={"fields": {...}}` adds keys."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (current := _request_fields.get()) is not None:
            line["request_id"] = current["request_id"]
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().handlers[:] = [handler]
    logging.getLogger().setLevel(level)
    # Below DEBUG the SDK's per-request chatter is noise; at DEBUG it is wanted.
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)


class RequestLogMiddleware:
    """One line per HTTP request: status, duration, request id, and what the server and the auth
    checks add (JSON-RPC method, tool, caller). It is written before the last body chunk is sent:
    once the response is out, Lambda may freeze the process before anything after it runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        line: dict[str, Any] = {"http_method": scope["method"], "path": scope["path"]}
        fields = {"request_id": request_id(scope)}

        async def send_and_log(message: Message) -> None:
            if message["type"] == "http.response.start":
                line["status"] = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                line["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
                summary = f"{scope['method']} {scope['path']} {line['status']}"
                REQUEST_LOGGER.info(summary, extra={"fields": {**line, **fields}})
            await send(message)

        token = _request_fields.set(fields)
        try:
            await self.app(scope, receive, send_and_log)
        finally:
            _request_fields.reset(token)


def request_id(scope: Scope) -> str:
    """The Lambda request id, which ties this line to Lambda's own START/REPORT lines."""
    raw = dict(scope["headers"]).get(b"x-amzn-lambda-context")
    try:
        return str(json.loads(raw)["request_id"]) if raw else uuid.uuid4().hex
    except (TypeError, ValueError, KeyError, RecursionError):
        return uuid.uuid4().hex

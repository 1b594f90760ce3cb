"""The OAuth server's state in DynamoDB: one item per record under `pk` = "<kind>#<key>",
its payload as JSON in `data`, and its end in `expires_at`, the table's TTL attribute.

Each method is one DynamoDB call, made in a worker thread so the event loop keeps serving.
Secrets (codes, refresh tokens) are stored under their `digest`, never in clear.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from typing import Any

import anyio

from ..contract import AWS_CLIENT_CONFIG

PARTITION_KEY = "pk"
TTL_ATTRIBUTE = "expires_at"
# botocore's DEBUG lines quote whole requests, and with them the tokens the table holds; its
# INFO lines say where it found credentials, on every cold start.
logging.getLogger("botocore").setLevel(logging.WARNING)


class StoreUnavailableError(RuntimeError):
    """DynamoDB refused a call or could not be reached (throttled, down, access denied)."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class OAuthStore:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name
        self._client: Any = None
        self._client_lock = threading.Lock()

    async def put(self, kind: str, key: str, data: dict[str, Any], ttl_seconds: int) -> None:
        end = {TTL_ATTRIBUTE: {"N": str(int(time.time()) + ttl_seconds)}}
        await self._call("PutItem", Item=_key(kind, key) | end | {"data": {"S": json.dumps(data)}})

    async def get(self, kind: str, key: str) -> dict[str, Any] | None:
        # Consistent: a code or pending authorization is read back moments after it is written.
        answer = await self._call("GetItem", Key=_key(kind, key), ConsistentRead=True)
        return _live_data(answer.get("Item"))

    async def take(self, kind: str, key: str) -> dict[str, Any] | None:
        """Read and delete in one call: of concurrent takes of a single-use code, one gets it."""
        answer = await self._call("DeleteItem", Key=_key(kind, key), ReturnValues="ALL_OLD")
        return _live_data(answer.get("Attributes"))

    async def count(self, kind: str, key: str, ttl_seconds: int) -> int:
        """This call's number among the calls for `key` in the current window of ttl_seconds
        (fixed windows: a new one starts every ttl_seconds), for rate limits."""
        window = int(time.time()) // ttl_seconds
        answer = await self._call(
            "UpdateItem",
            Key=_key(kind, f"{key}#{window}"),
            # ADD is atomic, so concurrent calls each get their own number; every call in a
            # window sets the same end.
            UpdateExpression=f"ADD hits :one SET {TTL_ATTRIBUTE} = :end",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":end": {"N": str((window + 1) * ttl_seconds)},
            },
            ReturnValues="UPDATED_NEW",
        )
        return int(answer["Attributes"]["hits"]["N"])

    async def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        return await anyio.to_thread.run_sync(self._call_now, operation, params)

    def _call_now(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        # Imported on first use: /mcp requests, which never touch the store, skip boto3's
        # share of a cold start.
        import boto3
        from botocore import xform_name
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        # Made once, from a session of its own: a boto3 session is not safe to make clients
        # from in two threads at once.
        with self._client_lock:
            self._client = self._client or boto3.Session().client(
                "dynamodb", config=Config(**AWS_CLIENT_CONFIG)
            )
        try:
            return getattr(self._client, xform_name(operation))(TableName=self.table_name, **params)
        except ClientError as error:
            reason = error.response["Error"]["Code"]
        except BotoCoreError as error:
            reason = type(error).__name__
        # Not chained: botocore's messages may quote the request, and with it a key or data.
        raise StoreUnavailableError(
            f"OAuth state table {self.table_name!r}: {operation} failed ({reason})"
        ) from None


def _key(kind: str, key: str) -> dict[str, Any]:
    return {PARTITION_KEY: {"S": f"{kind}#{key}"}}


def _live_data(item: dict[str, Any] | None) -> dict[str, Any] | None:
    # DynamoDB's TTL deletes expired items lazily, up to days late: they count as absent.
    if item is None or int(item[TTL_ATTRIBUTE]["N"]) <= time.time():
        return None
    return json.loads(item["data"]["S"])

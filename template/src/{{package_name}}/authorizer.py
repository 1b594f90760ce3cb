"""The gateway's token check for a REST API in front of your own OIDC issuer.

HTTP APIs check JWTs themselves, and REST APIs check Cognito tokens, but a REST API has no
check for another issuer's tokens. So with [api_gateway] type = "rest" and [auth] provider
= "oidc" the stack adds a TOKEN authorizer: a second function from the same image, started
as `python -m <package>.authorizer`. API Gateway sends it the Authorization header; the
Lambda Web Adapter hands that event, which is not an HTTP request, to POST /events here
and returns the answer to API Gateway: an IAM policy that allows or denies the call.

API Gateway keeps each answer for a few minutes per token, so most requests never reach
this function; the server checks every token again (auth.py), expiry included.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .config import AuthConfig, ConfigError, Settings
from .contract import HEALTH_PATH
from .logs import configure_logging
from .tokens import TokenChecker, client_of, scopes_of

logger = logging.getLogger(__name__)

# The Lambda Web Adapter's default AWS_LWA_PASS_THROUGH_PATH for events that are not HTTP.
EVENTS_PATH = "/events"
TOKEN_PROVIDERS = ("oidc", "cognito")


class Authorizer:
    """Turns a TOKEN authorizer event into API Gateway's allow or deny policy."""

    def __init__(self, config: AuthConfig) -> None:
        self.checker = TokenChecker(config)
        self.required_scopes = set(config.required_scopes)

    async def decide(self, token_header: str, method_arn: str) -> dict[str, Any]:
        scheme, _, token = token_header.partition(" ")
        claims = await self.checker.claims(token) if scheme.lower() == "bearer" else None
        missing = self.required_scopes - set(scopes_of(claims or {}))
        if claims is not None and missing:
            logger.info("refused a bearer token: it lacks the scopes %s", sorted(missing))
        allowed = claims is not None and not missing
        answer: dict[str, Any] = {
            "principalId": client_of(claims) if claims else "anonymous",
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Action": "execute-api:Invoke",
                        "Effect": "Allow" if allowed else "Deny",
                        # The whole stage, not only this method: API Gateway caches the answer
                        # per token and reuses it for the token's next request, whatever its method.
                        "Resource": stage_arn(method_arn),
                    }
                ],
            },
        }
        if allowed:
            answer["context"] = {"scope": " ".join(scopes_of(claims))}
        return answer


def stage_arn(method_arn: str) -> str:
    """arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/<path> -> .../<stage>/*"""
    api, stage = method_arn.split("/")[:2]
    return f"{api}/{stage}/*"


def event_problem(event: Any) -> str | None:
    if not isinstance(event, dict) or event.get("type") != "TOKEN":
        return 'the event is not an API Gateway TOKEN authorizer event ("type": "TOKEN")'
    for field in ("authorizationToken", "methodArn"):
        if not isinstance(event.get(field), str):
            return f"the event's {field} is {event.get(field)!r}: it must be a string"
    if not event["methodArn"].startswith("arn:") or event["methodArn"].count("/") < 3:
        return (
            f"the event's methodArn {event['methodArn']!r} is not allowed: use "
            "arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/<path>"
        )
    return None


def create_app(config: AuthConfig) -> Starlette:
    authorizer = Authorizer(config)

    async def events(request: Request) -> JSONResponse:
        try:
            event = await request.json()
        except ValueError:
            event = None
        problem = event_problem(event)
        if problem:
            logger.error("cannot authorize: %s", problem)
            return JSONResponse({"error": problem}, status_code=400)
        answer = await authorizer.decide(event["authorizationToken"], event["methodArn"])
        return JSONResponse(answer)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route(EVENTS_PATH, events, methods=["POST"]),
            Route(HEALTH_PATH, health, methods=["GET"]),
        ]
    )


def main() -> None:
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        sys.exit(f"configuration error: {error}")
    if settings.auth.enforced not in TOKEN_PROVIDERS:
        sys.exit(
            f"configuration error: AUTH_PROVIDER={settings.auth.enforced!r} is not allowed for "
            "the token authorizer: use oidc or cognito"
        )
    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings.auth),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()

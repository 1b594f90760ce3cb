"""What the server and the stack that deploys it must agree on.

The server (app.py, auth.py) and the CDK app (infra/) both import this module, so a path,
a header or a limit changes in one place for both.
"""

from __future__ import annotations

MCP_PATH = "/mcp"
# The Dockerfile names it too, as the Lambda Web Adapter's AWS_LWA_READINESS_CHECK_PATH.
HEALTH_PATH = "/health"
# RFC 9728 metadata: at the root, and suffixed with the MCP path, where the SDK serves it.
METADATA_PATHS = (
    "/.well-known/oauth-protected-resource",
    f"/.well-known/oauth-protected-resource{MCP_PATH}",
)
OAUTH_METADATA_PATH = "/.well-known/oauth-authorization-server"
AUTHORIZE_PATH = "/authorize"
TOKEN_PATH = "/token"
REGISTER_PATH = "/register"
REVOKE_PATH = "/revoke"
CONSENT_PATH = "/oauth/consent"
CALLBACK_PATH = "/oauth/callback"
OAUTH_PATHS = (
    OAUTH_METADATA_PATH,
    AUTHORIZE_PATH,
    TOKEN_PATH,
    REGISTER_PATH,
    REVOKE_PATH,
    CONSENT_PATH,
    CALLBACK_PATH,
)
# POST carries MCP; GET and DELETE reach the server so it can answer 405, as the spec expects.
MCP_METHODS = ("POST", "GET", "DELETE")
# What browser-based MCP clients send, and the response headers they need to read.
CORS_ALLOW_HEADERS = (
    "Content-Type",
    "Authorization",
    "Mcp-Session-Id",
    "Mcp-Protocol-Version",
    "Last-Event-ID",
)
CORS_EXPOSE_HEADERS = ("Mcp-Session-Id", "Mcp-Protocol-Version")
CORS_MAX_AGE_SECONDS = 3600
# API Gateway stops waiting for the function after this many seconds, per API type.
API_TIMEOUT_SECONDS = {"http": 30, "rest": 29}
# The only retention periods CloudWatch Logs accepts.
LOG_RETENTION_DAYS = (
    *(1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731),
    *(1096, 1827, 2192, 2557, 2922, 3288, 3653),
)

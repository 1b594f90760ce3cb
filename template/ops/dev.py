"""`make dev` and `make token`: the server on this machine, with auth as deploy.toml asks.

With cognito or oidc, `make dev` starts a local issuer (local_issuer.py) and points the server
at it, so /mcp refuses requests without a token, as when deployed; `make token` then finds that
issuer the way MCP clients do (RFC 9728 metadata, then OpenID discovery) and asks it for one.

    python -m ops.dev serve PACKAGE   (HOST, PORT, RELOAD and the rest from the environment)
    python -m ops.dev token PORT
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
import urllib.error
import urllib.parse
import urllib.request

from .local_issuer import CLIENT_ID, Issuer
from infra import settings as deploy
from infra.settings import DeployConfigError, load_settings

IAM_LOCALLY = (
    'make dev: [auth] provider = "iam" is checked by API Gateway (SigV4), which is not in '
    "front of this server: serving without auth"
)


def local_auth(auth: deploy.AuthSection) -> dict[str, str]:
    """The server's AUTH_* variables, with a local issuer in place of the deployed one."""
    if auth.provider == "iam":
        print(IAM_LOCALLY, file=sys.stderr)
        return {"AUTH_PROVIDER": "iam", "MCP_AUTH_DISABLED": "1"}
    if auth.provider == "none":
        return {"AUTH_PROVIDER": "none"}
    issuer = Issuer(audience=auth.audience, scopes=auth.scopes)
    print(
        f"make dev: tokens come from a local issuer at {issuer.url}; `make token` prints one",
        file=sys.stderr,
    )
    variables = {
        "AUTH_PROVIDER": auth.provider,
        "AUTH_ISSUER": issuer.url,
        "AUTH_REQUIRED_SCOPES": ",".join(auth.scopes),
    }
    if auth.provider == "cognito":
        variables["AUTH_CLIENT_IDS"] = CLIENT_ID
    else:
        variables["AUTH_AUDIENCE"] = auth.audience
    return variables


def serve(package: str) -> None:
    os.environ.update(local_auth(load_settings().auth))
    # As `python -m PACKAGE`, in this process, so the issuer lives as long as the server
    # (and its reloader) does.
    runpy.run_module(package, run_name="__main__", alter_sys=True)


def local_token(port: int) -> str:
    """A token from the issuer the server on this port names in its RFC 9728 metadata."""
    server = f"http://127.0.0.1:{port}"
    try:
        metadata = fetch_json(f"{server}/.well-known/oauth-protected-resource")
    except urllib.error.HTTPError:
        raise SystemExit(f"the server at {server} checks no tokens: it needs none") from None
    except OSError:
        raise SystemExit(f"nothing answers at {server}: start make dev (same PORT=)") from None
    issuer = metadata["authorization_servers"][0]
    discovery = fetch_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
    form = {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "scope": " ".join(metadata.get("scopes_supported", [])),
    }
    data = urllib.parse.urlencode(form).encode()
    return fetch_json(discovery["token_endpoint"], data)["access_token"]


def fetch_json(url: str, data: bytes | None = None) -> dict:
    with urllib.request.urlopen(url, data, timeout=10) as response:
        return json.loads(response.read())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ops.dev", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve PACKAGE as make dev does").add_argument("package")
    commands.add_parser("token", help="print a token for make dev's server").add_argument(
        "port", type=int
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            serve(args.package)
        else:
            print(local_token(args.port))
    except DeployConfigError as error:
        sys.exit(str(error))


if __name__ == "__main__":
    main()

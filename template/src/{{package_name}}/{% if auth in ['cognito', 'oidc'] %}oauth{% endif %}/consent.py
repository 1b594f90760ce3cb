"""The consent page: the person sees which client asks, and where their sign-in will go,
before this server sends them to the upstream. Without it, any page could use this
server's one upstream client to sign people in for a client of its own (confused deputy)."""

from __future__ import annotations

import secrets
from html import escape
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ..contract import CONSENT_PATH
from .provider import SignInProvider

CSRF_COOKIE = "consent_csrf"
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",  # browsers without CSP
    "Cache-Control": "no-store",
}
EXPIRED = "This sign-in request has expired or was already answered: start again from your client."
PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>Allow {name}?</title>
<h1>Allow {name} to use this server as you?</h1>
<p>Client id: <code>{client_id}</code></p>
<p>After you sign in, you go back to: <code>{redirect_uri}</code></p>
<p>Scopes: <code>{scopes}</code></p>
<form method="post" action="{action}">
<input type="hidden" name="request" value="{request}">
<input type="hidden" name="csrf" value="{csrf}">
<button name="decision" value="approve">Approve</button>
<button name="decision" value="deny">Deny</button>
</form>
</html>
"""


def page(message: str, status: int) -> Response:
    html = f'<!doctype html><html lang="en"><meta charset="utf-8"><p>{escape(message)}</p></html>'
    return HTMLResponse(html, status_code=status, headers=HEADERS)


class ConsentPage:
    def __init__(self, provider: SignInProvider) -> None:
        self.provider = provider
        # Behind a REST API's stage (https://<id>.execute-api.<region>.amazonaws.com/prod),
        # the browser sees every path under the stage's.
        self.base_path = urlsplit(provider.issuer).path

    async def show(self, request: Request) -> Response:
        request_id = request.query_params.get("request", "")
        pending = await self.provider.pending(request_id)
        client = pending and await self.provider.get_client(pending.client_id)
        if not (pending and client):
            return page(EXPIRED, 400)
        csrf = secrets.token_urlsafe(32)
        html = PAGE.format(
            name=escape(client.client_name or client.client_id),
            # A document's URL is known by its host; a registration by its id.
            client_id=escape(urlsplit(client.client_id).hostname or client.client_id),
            redirect_uri=escape(str(pending.params.redirect_uri)),
            scopes=escape(" ".join(pending.params.scopes or self.provider.scopes)),
            action=escape(self.base_path + CONSENT_PATH),
            request=escape(request_id),
            csrf=csrf,
        )
        response = HTMLResponse(html, headers=HEADERS)
        response.set_cookie(
            CSRF_COOKIE,
            csrf,
            path=self.base_path + "/oauth",
            httponly=True,
            secure=self.provider.issuer.startswith("https:"),
            samesite="lax",
        )
        return response

    async def decide(self, request: Request) -> Response:
        form = await request.form()
        sent, kept = str(form.get("csrf", "")), request.cookies.get(CSRF_COOKIE, "")
        # Only this server's page knows the cookie's value: a form posted from elsewhere fails.
        if not kept or not secrets.compare_digest(sent.encode(), kept.encode()):
            return page("This form did not come from this server's consent page.", 403)
        request_id = str(form.get("request", ""))
        if form.get("decision") == "approve":
            target = await self.provider.approve(request_id)
        else:
            target = await self.provider.deny(request_id)
        if target is None:
            return page(EXPIRED, 400)
        return RedirectResponse(target, status_code=302, headers={"Cache-Control": "no-store"})

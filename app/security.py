"""Request-level defences: cross-site request refusal and security headers (pure ASGI)."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


# Everything is served from our origin: no CDN, no inline script or style (htmx's indicator
# styles are turned off in base.html), no framing (clickjacking).
def csp(form_targets: str = "") -> str:
    """The policy; `form_targets` adds origins a form may lead to (logout at the OIDC provider:
    browsers apply form-action to the redirects that follow a form submission)."""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
        f"form-action 'self'{' ' + form_targets if form_targets else ''}; frame-ancestors 'none'"
    )


HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class SecurityMiddleware:
    """Refuses unsafe requests sent from another site (CSRF), and sets security headers.

    Browsers send `Sec-Fetch-Site` on every request; older ones at least send `Origin` on
    cross-site POSTs. A request with neither comes from a non-browser client, which carries no
    ambient cookie authority worth forging.
    """

    def __init__(self, app: ASGIApp, origin: str, hsts: bool, form_targets: str = "") -> None:
        self.app = app
        self.origin = origin
        self.hsts = hsts
        self.headers = {"Content-Security-Policy": csp(form_targets), **HEADERS}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] in _UNSAFE and self._cross_site(Headers(scope=scope)):
            response = PlainTextResponse(
                "Requête refusée : elle ne vient pas de ce site.", status_code=403
            )
            await response(scope, receive, self._with_headers(send))
            return
        await self.app(scope, receive, self._with_headers(send))

    def _cross_site(self, headers: Headers) -> bool:
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return True
        origin = headers.get("origin")
        return origin is not None and origin != self.origin

    def _with_headers(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
                if self.hsts:
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000")
            await send(message)

        return wrapped

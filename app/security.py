"""Request-level defences: cross-site request refusal and security headers (pure ASGI)."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Everything is served from our origin: no CDN, no inline script or style (htmx's indicator
# styles are turned off in base.html), no framing (clickjacking).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
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

    def __init__(self, app: ASGIApp, origin: str, hsts: bool) -> None:
        self.app = app
        self.origin = origin
        self.hsts = hsts

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
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                if self.hsts:
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000")
            await send(message)

        return wrapped

"""Tiny helpers for htmx requests and response headers (never raw header strings in routes)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response


def is_htmx(request: Request) -> bool:
    # A boosted navigation wants the whole page; only targeted requests get fragments.
    return (
        request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"
    )


def vary(response: Response) -> Response:
    """Pages and their fragments share URLs: caches must key on HX-Request."""
    existing = response.headers.get("Vary")
    response.headers["Vary"] = f"{existing}, HX-Request" if existing else "HX-Request"
    return response


def redirect(response: Response, url: str) -> Response:
    response.headers["HX-Redirect"] = url
    return response


def trigger(response: Response, event: str, detail: Any = None) -> Response:
    """Fire a `resource:verb` event on the client."""
    response.headers["HX-Trigger"] = json.dumps({event: detail if detail is not None else {}})
    return response

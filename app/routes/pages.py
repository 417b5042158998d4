"""Static pages and health."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from app.context import Ctx, endpoint


@endpoint(login=False)
def accessibility(ctx: Ctx) -> Response:
    return ctx.render("pages/accessibilite.html")


async def health(_request: Request) -> Response:
    return PlainTextResponse("ok")


routes = [
    Route("/accessibilite", accessibility, methods=["GET"], name="accessibilite"),
    Route("/healthz", health, methods=["GET"], name="health"),
]

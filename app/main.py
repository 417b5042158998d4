"""The application factory: `create_app(settings)`; resources live in the lifespan."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from jinja2_fragments.starlette import Jinja2Blocks
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from app import errors, ratelimit, templating
from app.auth.oidc import OidcClient
from app.collab_store import SessionGate, SqlStore
from app.db import Database
from app.routes import (
    admin,
    auth,
    dossiers,
    invitations,
    oidc,
    pages,
    password,
    sections,
    team,
)
from app.security import SecurityMiddleware
from app.services.mail import MailSender
from app.settings import Settings
from collab.endpoint import CollabEndpoint
from collab.manager import Manager

ROOT = Path(__file__).resolve().parent.parent


def create_app(settings: Settings) -> Starlette:
    templates = Jinja2Blocks(directory=str(ROOT / "templates"))
    templating.configure(templates.env, settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.db = database = Database(settings.database_url)
        app.state.mailer = None
        gate = SessionGate(settings, database)
        manager = Manager(SqlStore(database))
        app.state.collab = manager
        app.state.collab_endpoint = CollabEndpoint(manager, gate, settings.origin)

        async def recheck() -> None:
            gate.forget()
            await manager.reevaluate(lambda conn, name: gate.permission(conn.peer, name))

        app.state.collab_recheck = recheck
        try:
            async with AsyncExitStack() as stack:
                await stack.enter_async_context(manager.running())
                if settings.smtp_url:
                    app.state.mailer = await stack.enter_async_context(
                        MailSender(settings, database).running()
                    )
                yield
        finally:
            app.state.limiter.close()
            database.dispose()

    routes = [
        *auth.routes,
        *dossiers.routes,
        *sections.routes,
        *team.routes,
        *invitations.routes,
        *password.routes,
        *oidc.routes,
        *admin.routes,
        *pages.routes,
        Mount("/static", StaticFiles(directory=str(ROOT / "static")), name="static"),
        Mount("/collab", app=_collab, name="collab"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers=errors.handlers(),
        middleware=[
            Middleware(CollabShortcut),
            Middleware(
                SecurityMiddleware,
                origin=settings.origin,
                hsts=settings.https,
                form_targets=origin_of(settings.oidc_issuer) if settings.oidc_enabled else "",
            ),
        ],
    )
    app.state.settings = settings
    app.state.templates = templates
    app.state.limiter = ratelimit.limiter_for(settings.redis_url)
    app.state.oidc = OidcClient(settings) if settings.oidc_enabled else None
    return app


async def _collab(scope: Scope, receive: Receive, send: Send) -> None:
    """/collab/{document}: the endpoint lives in the lifespan, with the manager it serves."""
    await scope["app"].state.collab_endpoint(scope, receive, send)


class CollabShortcut:
    """Hands /collab websockets to the endpoint before Starlette's exception middleware and
    router, which would otherwise wrap every message sent — the hot path of every keystroke."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"].startswith("/collab/"):
            await _collab(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def origin_of(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def app_from_env() -> Starlette:
    """Entry point for `uvicorn --factory` and `arobase serve`."""
    settings = Settings.from_env()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    app = create_app(settings)
    # Everything loaded so far (modules, mappings, templates) lives as long as the process: keep
    # it out of the collector's way, so collections under load only walk what is young.
    gc.collect()
    gc.freeze()
    return app

"""The application factory: `create_app(settings)`; resources live in the lifespan."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from jinja2_fragments.starlette import Jinja2Blocks
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from app import errors, jobs, logs, ratelimit, templating
from app.auth.oidc import OidcClient
from app.collab_store import SessionGate, SqlStore
from app.db import Database
from app.routes import (
    admin,
    auth,
    comments,
    dossiers,
    history,
    invitations,
    notifications,
    oidc,
    ops,
    pages,
    password,
    sections,
    submission,
    team,
)
from app.security import SecurityMiddleware
from app.services.comment_feed import LocalFeed, RelayedFeed
from app.services.history import Squasher
from app.services.mail import MailSender
from app.settings import Settings
from collab.bus import LocalBus, RedisBus, bus_prefix
from collab.endpoint import CollabEndpoint
from collab.manager import Manager
from collab.metrics import Metrics

ROOT = Path(__file__).resolve().parent.parent


def create_app(settings: Settings) -> Starlette:
    templates = Jinja2Blocks(directory=str(ROOT / "templates"))
    templating.configure(templates.env, settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.db = database = Database(settings.database_url)
        app.state.mailer = None
        gate = SessionGate(settings, database)
        # Several processes hear each other through Redis; one process needs no bus.
        bus = (
            RedisBus(settings.redis_url, prefix=bus_prefix(settings.database_url))
            if settings.redis_url
            else LocalBus()
        )
        app.state.metrics = metrics = Metrics()  # read by /metrics
        manager = Manager(SqlStore(database), bus=bus)
        manager.on_commit = metrics.commit_seconds.observe
        app.state.collab = manager
        app.state.collab_endpoint = CollabEndpoint(manager, gate, settings.origin, metrics=metrics)

        async def recheck_here() -> None:
            gate.forget()
            await manager.reevaluate(lambda conn, name: gate.permission(conn.peer, name))

        async def recheck() -> None:
            await recheck_here()
            manager.recheck_everywhere()  # connections held by the other processes too

        manager.on_recheck = recheck_here
        app.state.collab_recheck = recheck
        try:
            async with AsyncExitStack() as stack:
                await stack.enter_async_context(manager.running())
                # Tells open section pages that their comment threads changed, in this process
                # and, through the bus, in the others.
                local_feed = await stack.enter_async_context(LocalFeed().running())
                loop = asyncio.get_running_loop()
                feed = RelayedFeed(
                    local_feed,
                    lambda raw: loop.call_soon_threadsafe(manager.publish_event, raw),
                )
                manager.on_event = feed.heard
                app.state.comment_feed = feed
                # Deadline reminders and locking, daily digests: idempotent, every 5 minutes;
                # a dossier locked at the deadline turns its open editors read-only at once.
                await stack.enter_async_context(jobs.running(settings, database, recheck))
                # Bounded history: merges each person's edits of a minute, every 5 minutes.
                await stack.enter_async_context(Squasher(database).running())
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
        *comments.routes,
        *history.routes,
        *submission.routes,
        *notifications.routes,
        *team.routes,
        *invitations.routes,
        *password.routes,
        *oidc.routes,
        *admin.routes,
        *pages.routes,
        *ops.routes,
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
    logs.configure(settings)
    app = create_app(settings)
    # Everything loaded so far (modules, mappings, templates) lives as long as the process: keep
    # it out of the collector's way, so collections under load only walk what is young.
    gc.collect()
    gc.freeze()
    return app

"""A real Arobase server on loopback with the demo data, and Debian's Chromium to drive it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from app.db import Database
from app.services import demo

from ..conftest import ARTEFACTS, SmtpSink, make_settings
from ..live import free_port, serve

CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
DEMO_PASSWORD = "mot-de-passe-demo"


@dataclass
class LiveServer:
    url: str
    demo: dict[str, Any]
    smtp: SmtpSink


@pytest.fixture
def live_server(sqlite_url: str, smtp: SmtpSink) -> Iterator[LiveServer]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = make_settings(sqlite_url, base_url=url, smtp_url=f"smtp://127.0.0.1:{smtp.port}")
    database = Database(sqlite_url)
    with database.session() as session:
        ids = demo.load(session, DEMO_PASSWORD).as_json()
    database.dispose()
    with serve(settings, port):
        yield LiveServer(url, json.loads(json.dumps(ids)), smtp)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    # bypass_csp lets the test inject axe-core; the pages themselves keep their strict CSP.
    context = browser.new_context(
        locale="fr-FR", viewport={"width": 1280, "height": 900}, bypass_csp=True
    )
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def pages() -> Iterator[list[Page]]:
    """The pages a test opens; their contexts are closed even when it fails (an open page keeps
    its feed open, and the server waits for it on shutdown)."""
    opened: list[Page] = []
    yield opened
    for page in opened:
        page.context.close()


def accessibility_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the current page (WCAG 2.1 A and AA rules, as RGAA 4 asks)."""
    page.add_script_tag(path=str(AXE))
    result: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, {runOnly: {type: 'tag',
             values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}}))
           .violations.map(v => ({id: v.id, help: v.help,
             nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"""
    )
    return result


def screenshot(page: Page, name: str) -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

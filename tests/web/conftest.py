"""Fixtures for the web tests: a filled store, the app in-process, a live server, a browser."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.testclient import TestClient
from webworld import build_world, web_settings

from trailspike.store.db import open_store
from trailspike.web.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


def make_store(folder: Path) -> tuple[Path, list[str]]:
    """A store file filled by :func:`webworld.build_world`, closed again."""
    path = folder / "web.duckdb"
    con = open_store(path)
    alert_ids = build_world(con)
    con.close()
    return path, alert_ids


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A filled store (path, alert uuids) shared by one test module."""
    return make_store(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def client(world: tuple[Path, list[str]]) -> Iterator[TestClient]:
    """The app in-process, addressed as 127.0.0.1 like a local browser would."""
    app = create_app(web_settings(world[0]))
    with TestClient(app, base_url="http://127.0.0.1:8000") as test_client:
        yield test_client


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def live_server(world: tuple[Path, list[str]]) -> Iterator[str]:
    """uvicorn serving the app on a free loopback port, in a thread; yields the base URL."""
    port = _free_port()
    app = create_app(web_settings(world[0], port=port))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start within 20 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium driven by Playwright (headless, no network services)."""
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed at /usr/bin/chromium (run `make browser-deps`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def screenshots() -> Path:
    """Folder the browser tests save page screenshots to (a CI artifact)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS

"""Sharing the dashboard: beyond 127.0.0.1 it needs authentication, and a start without it is
refused -- by `churn-workbench dashboard` and by the Voilà server itself (voila.json names the
identity provider), so typing `voila ... --Voila.ip=0.0.0.0` by hand is refused too.

The browser test serves the fixture dashboard with a token (on 127.0.0.1: tests use no other
address) and proves that a browser without the token sees the login page and no customer data,
that a wrong token is rejected, and that the right one opens the dashboard.
"""
from __future__ import annotations

import subprocess

import pytest
from traitlets import Unicode
from traitlets.config import Configurable

from browser_support import (ROOT, assert_only_local, dashboard_env, free_port, launch, launcher_command, stop,
                             voila_command, wait_listening)
from churn_workbench.dashboard import access, serve
from churn_workbench.errors import UsageError

TOKEN = "a-test-token-4f9c2e"


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.8.9.10", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("0.0.0.0", False), ("", False), ("::", False), ("*", False), ("192.0.2.10", False), ("10.1.2.3", False),
    ("no-such-host.invalid", False),
])
def test_loopback_addresses(host, loopback):
    assert access.is_loopback(host) is loopback


class _Server(Configurable):
    """Stands in for the Voilà app: the identity provider reads the bind address from its parent."""
    ip = Unicode("127.0.0.1")


def test_identity_provider_refuses_a_shared_bind_without_authentication(monkeypatch):
    monkeypatch.delenv(access.TOKEN_VARIABLE, raising=False)
    monkeypatch.setattr(access, "configured_token", lambda: None)
    assert not access.DashboardIdentityProvider(parent=_Server(), token="").auth_enabled  # loopback: allowed
    with pytest.raises(SystemExit) as refused:
        access.DashboardIdentityProvider(parent=_Server(ip="0.0.0.0"), token="")
    assert refused.value.code == 2
    # Any authentication makes it acceptable: a token given to Voilà, or a hashed password.
    assert access.DashboardIdentityProvider(parent=_Server(ip="0.0.0.0"), token="t").auth_enabled
    assert access.DashboardIdentityProvider(parent=_Server(ip="0.0.0.0"), token="",
                                            hashed_password="argon2:$fake").auth_enabled


def test_identity_provider_takes_the_token_from_the_setting(monkeypatch):
    monkeypatch.setattr(access, "configured_token", lambda: TOKEN)
    provider = access.DashboardIdentityProvider(parent=_Server(ip="0.0.0.0"), token="")
    assert provider.token == TOKEN and provider.auth_enabled
    assert provider.allow_password_change is False  # the login page cannot set a password


def test_launcher_refuses_a_shared_bind_without_a_token(monkeypatch):
    monkeypatch.setattr(access, "configured_token", lambda: None)
    monkeypatch.setattr(serve, "configured_token", lambda: None)
    with pytest.raises(UsageError, match="without authentication.*WORKBENCH_DASHBOARD_TOKEN"):
        serve.prepare("0.0.0.0", free_port())
    # --generate-token: a random token, in Voilà's environment and the printed URL, never its command line.
    command, env, url = serve.prepare("0.0.0.0", free_port(), generate_token=True)
    token = env[access.TOKEN_VARIABLE]
    assert len(token) >= 24 and url.endswith(f"?token={token}") and not any(token in part for part in command)
    # On loopback nothing is asked for.
    command, env, url = serve.prepare("127.0.0.1", free_port())
    assert "--Voila.ip=127.0.0.1" in command and "token" not in url


def test_launcher_keeps_a_configured_token_out_of_sight(monkeypatch):
    monkeypatch.setattr(serve, "configured_token", lambda: TOKEN)
    command, env, url = serve.prepare("0.0.0.0", free_port())
    assert TOKEN not in url and not any(TOKEN in part for part in command)
    assert "WORKBENCH_DASHBOARD_TOKEN" in url


def test_launcher_refuses_a_taken_port():
    import socket
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UsageError, match=f"port {port} on 127.0.0.1 is not available"):
            serve.prepare("127.0.0.1", port)


@pytest.mark.slow
def test_voila_started_by_hand_on_every_interface_is_refused(tmp_path):
    """The server-side rule: no launcher involved, no socket ever listens."""
    env = dashboard_env(tmp_path / "data", tmp_path / "data" / "w.duckdb", tmp_path / "audit", tmp_path / "rt")
    port = free_port()
    done = subprocess.run(voila_command(port, ip="0.0.0.0"), cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "refusing to serve the dashboard on 0.0.0.0 without authentication" in done.stderr
    launched = subprocess.run(launcher_command(port, ip="0.0.0.0"), cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=180)
    assert launched.returncode == 2 and "without authentication" in launched.stderr
    assert "Traceback" not in done.stderr + launched.stderr


@pytest.fixture(scope="module")
def token_server(tmp_path_factory):
    from test_dashboard_data import build_fixture
    root = tmp_path_factory.mktemp("dashboard-access")
    fixture = build_fixture(root)
    port = free_port()
    env = dashboard_env(fixture.data_dir, fixture.db_path, fixture.audit_dir, root / "runtime",
                        WORKBENCH_DASHBOARD_TOKEN=TOKEN)
    log = open(root / "server.log", "w")
    proc = subprocess.Popen(launcher_command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    if not wait_listening(port, proc):
        stop(proc)
        pytest.fail(f"the dashboard did not start: {(root / 'server.log').read_text()[-2000:]}")
    yield f"http://127.0.0.1:{port}/", root
    stop(proc)
    log.close()
    assert TOKEN not in (root / "server.log").read_text(), "the token was written to the server log"


def _shows(page, selector: str, root) -> None:
    """Wait for `selector`; if it never shows, fail with what the page and the server did show
    (a dashboard that does not appear on a busy machine must leave evidence of why)."""
    from playwright.sync_api import TimeoutError as PageTimeout
    try:
        page.wait_for_selector(selector)
    except PageTimeout:
        try:
            shown = page.inner_text("body")[:1500]
        except PageTimeout:
            shown = page.content()[:1500]
        page.screenshot(path=str(root / "not-shown.png"))
        log = (root / "server.log").read_text(errors="replace")[-2000:]
        pytest.fail(f"{selector} never showed at {page.url}; the page showed: {shown!r}; server log ends: {log}",
                    pytrace=False)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(600)
def test_browser_needs_the_token(token_server):
    from playwright.sync_api import sync_playwright
    url, root = token_server
    requests: list[str] = []
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(240_000)  # a busy 2-core CI machine starts kernels slowly
        page.on("request", lambda r: requests.append(r.url))

        # No token: the login page, and nothing of the dashboard (no kernel was started for us).
        page.goto(url)
        page.wait_for_selector("input[name=password]")
        assert "/login" in page.url
        content = page.content()
        assert "wb-tabs" not in content and "C0000001" not in content and "churn" not in content.lower()
        page.screenshot(path=str(root / "login.png"))

        # A wrong token is rejected.
        page.fill("input[name=password]", "not-the-token")
        page.click("button[type=submit], input[type=submit]")
        page.wait_for_load_state()
        assert page.locator("input[name=password]").count() == 1 and "C0000001" not in page.content()

        # The right token opens the dashboard (and a cookie keeps the session).
        page.fill("input[name=password]", TOKEN)
        page.click("button[type=submit], input[type=submit]")
        _shows(page, ".wb-tabs .lm-TabBar-tab", root)
        _shows(page, ".wb-kpis .wb-card", root)
        # Voilà streams the page while the dashboard's kernel runs: "load" comes only when all of
        # it has run, so the page is awaited by what it shows, not by its load event.
        page.goto(url, wait_until="commit")
        _shows(page, ".wb-kpis .wb-card", root)

        # A token in the URL works too (the link `--generate-token` prints).
        fresh = browser.new_page()
        fresh.set_default_timeout(240_000)  # its own kernel, beside the first page's, on a busy machine
        fresh.on("request", lambda r: requests.append(r.url))
        fresh.goto(f"{url}?token={TOKEN}", wait_until="commit")
        _shows(fresh, ".wb-kpis .wb-card", root)

        # Leaving a page shuts its kernel down -- also for the browser that came in by the token
        # link, which no login form gave an _xsrf cookie: reloads and closed tabs leave no kernels.
        fresh.goto(url, wait_until="commit")
        _shows(fresh, ".wb-kpis .wb-card", root)
        page.goto("about:blank")  # leaving the page: its beacon shuts its kernel down
        _kernels_settle_at(1, root)  # fresh's current kernel only
        browser.close()
    assert_only_local(requests)
    assert "403 POST /voila/api/shutdown" not in (root / "server.log").read_text()


def _kernels_settle_at(expected: int, root, deadline_s: float = 120) -> None:
    """Wait until the server runs `expected` kernels by its log (shutdowns are asynchronous, and
    Voilà serves no kernel list); fail with the kernels still running and the log if it never does."""
    import re
    import time
    deadline = time.monotonic() + deadline_s
    while True:
        log = (root / "server.log").read_text(errors="replace")
        running = set(re.findall(r"Kernel started: (\S+)", log)) - set(re.findall(r"Kernel shutdown: (\S+)", log))
        if len(running) == expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(running) == expected, f"{len(running)} kernels still run ({sorted(running)}); server log ends: {log[-2000:]}"

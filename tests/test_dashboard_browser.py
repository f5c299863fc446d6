"""The Voilà dashboard in a real browser (Debian's chromium driven by Playwright).

Starts Voilà exactly as `make dashboard` does (same voila.json, same offline template) on a free
127.0.0.1 port against a snapshot of the fixture database, then: waits for the widgets, changes
a filter and sees the table change, opens a customer drill-down, screenshots every section,
and asserts that the browser asked nothing of any host but the local Voilà server. A second
test shows the dashboard while another process holds the workbench database read-write.

Never runs `playwright install`: chromium comes from Debian (`make setup` installs it; without it
the browser tests are skipped with that reason). A third test starts Voila as Voila users type
it, without the Makefile, and checks it serves the offline template.
Screenshots go to test-output/dashboard/ (git-ignored).
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from test_dashboard_data import build_fixture

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "test-output" / "dashboard"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


def _chromium() -> str:
    """Debian's chromium from PATH. `make setup` installs it where apt-get can; a test never does."""
    path = shutil.which("chromium")
    if not path:
        pytest.skip("no chromium on PATH: install Debian's chromium (`make setup` does, where apt-get is usable)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float = 300) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.3)
    return False


def voila_command(port: int) -> list[str]:
    """The `make dashboard` command line (voila.json in the project root supplies the rest)."""
    return [str(Path(sys.executable).parent / "voila"), "notebooks/dashboard.ipynb", "--no-browser",
            f"--port={port}", "--Voila.ip=127.0.0.1"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("dashboard")
    fixture = build_fixture(root)
    port = _free_port()
    env = dict(os.environ, WORKBENCH_DATA_DIR=str(fixture.data_dir), WORKBENCH_DB=str(fixture.db_path),
               WORKBENCH_AUDIT_DIR=str(fixture.audit_dir), JUPYTER_PATH=str(ROOT / "share" / "jupyter"),
               JUPYTER_RUNTIME_DIR=str(root / "runtime"), PYTHONUNBUFFERED="1")
    env.pop("WORKBENCH_SUBJECT_KEY", None)
    log = open(root / "voila.log", "w")
    proc = subprocess.Popen(voila_command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    if not _wait_listening(port, proc):
        proc.kill()
        pytest.fail(f"voila did not start: {(root / 'voila.log').read_text()[-2000:]}")
    yield fixture, url, root
    _stop(proc, log)


def _stop(proc: subprocess.Popen, log=None) -> None:
    """Voila stops on SIGTERM, slowly on a busy machine: wait a while, then kill it."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if log is not None:
        log.close()


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _open(browser, url: str, requests: list[str]):
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.set_default_timeout(90_000)  # a busy 2-core CI machine starts kernels slowly
    page.on("request", lambda r: requests.append(r.url))
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    try:
        page.goto(url)
    except PlaywrightTimeout:
        # Each page load starts a fresh kernel; on a saturated CI machine one start can stall.
        # One retry with a new kernel; a dashboard that never loads still fails.
        page.goto(url)
    page.wait_for_selector(".wb-tabs .lm-TabBar-tab")
    return page


def _tab(page, title: str) -> None:
    page.click(f".wb-tabs .lm-TabBar-tab:has-text('{title}')")


def _assert_only_local(requests: list[str]) -> None:
    remote = sorted({u for u in requests if urlparse(u).scheme in ("http", "https", "ws", "wss")
                     and urlparse(u).hostname not in LOCAL_HOSTS})
    assert not remote, f"the dashboard fetched from the internet: {remote[:5]}"
    assert requests, "no request was recorded at all"


@pytest.mark.browser
def test_dashboard_in_browser(server, browser):
    fixture, url, _ = server
    OUTPUT.mkdir(parents=True, exist_ok=True)
    requests: list[str] = []
    page = _open(browser, url, requests)

    # The page forbids the browser any source but this server (the offline "workbench" template).
    assert page.locator('meta[http-equiv="Content-Security-Policy"]').count() == 1
    assert "cdn.jsdelivr.net" not in page.content()

    # Overview: KPIs and the verified audit badge.
    page.wait_for_selector(".wb-kpis .wb-card")
    assert "40" in page.inner_text(".wb-kpis")
    assert "verified" in page.inner_text(".wb-root")
    page.screenshot(path=str(OUTPUT / "overview.png"), full_page=True)

    # Customers: a filter changes the table.
    _tab(page, "Customers")
    count = page.locator(".wb-customer-count")
    count.wait_for()
    assert "40" in count.inner_text()
    page.select_option(".wb-filter-segment select", label="High")
    page.wait_for_function("""() => {
        const cells = [...document.querySelectorAll('.wb-customer-table tbody tr td:nth-child(2)')];
        return cells.length > 0 && cells.every(td => td.innerText.trim() === 'High');
    }""")
    page.wait_for_function("() => !document.querySelector('.wb-customer-count').innerText.startsWith('40 ')")
    shown = page.locator(".wb-customer-table tbody tr").count()
    assert int(re.match(r"([\d,]+)", count.inner_text()).group(1)) == shown < 40

    # Drill-down of the top customer: anonymized feedback, audit trail, no raw identifiers.
    page.click("button.wb-drill-show")
    page.wait_for_selector(".wb-drill-head")
    drill = page.inner_text(".wb-drill-out")
    assert "C0000001" in drill and "<PERSON_1>" in drill and "action_fallback" in drill
    for raw in ("Anna Schmidt", "anna.schmidt7@example.com", "+44 7700 900123", "LC000000"):
        assert raw not in page.content()
    page.screenshot(path=str(OUTPUT / "customers.png"), full_page=True)

    for title in ("Model", "Governance", "Runs"):
        _tab(page, title)
        page.wait_for_timeout(500)
        page.screenshot(path=str(OUTPUT / f"{title.lower()}.png"), full_page=True)

    # Governance: the egress search narrows what is listed.
    _tab(page, "Governance")
    page.fill(".wb-egress-search input", "batch 2")
    page.press(".wb-egress-search input", "Enter")
    page.wait_for_function("() => document.querySelector('.wb-section-governance').innerText.includes('2 request(s) match')")
    _tab(page, "Overview")
    page.wait_for_timeout(300)
    page.close()
    _assert_only_local(requests)


@pytest.mark.browser
def test_dashboard_loads_while_the_database_is_held_read_write(server, browser):
    fixture, url, root = server
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('locked', flush=True); time.sleep(120)"),
        str(fixture.db_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        requests: list[str] = []
        page = _open(browser, url, requests)
        page.wait_for_selector(".wb-kpis .wb-card")
        assert "40" in page.inner_text(".wb-kpis")
        assert holder.poll() is None  # still holding the lock while the page rendered
        page.close()
        _assert_only_local(requests)
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.browser
def test_empty_page_when_nothing_was_published(tmp_path, browser):
    port = _free_port()
    env = dict(os.environ, WORKBENCH_DATA_DIR=str(tmp_path / "data"), WORKBENCH_DB=str(tmp_path / "data" / "w.duckdb"),
               WORKBENCH_AUDIT_DIR=str(tmp_path / "audit"), JUPYTER_PATH=str(ROOT / "share" / "jupyter"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    proc = subprocess.Popen(voila_command(port), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        assert _wait_listening(port, proc), "voila did not start"
        page = browser.new_page()
        page.set_default_timeout(90_000)
        page.goto(url)
        page.wait_for_selector(".wb-empty-page")
        text = page.inner_text(".wb-empty-page")
        assert "make run" in text and "Traceback" not in page.content()
        page.close()
    finally:
        _stop(proc)


def test_plain_voila_finds_the_offline_template(tmp_path):
    """`voila notebooks/dashboard.ipynb` as Voila users type it (no JUPYTER_PATH, no Makefile)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("JUPYTER_PATH",) and not k.startswith("WORKBENCH_")}
    env.update(WORKBENCH_DB=str(tmp_path / "ws" / "wb.duckdb"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    log = open(tmp_path / "voila.log", "w")
    proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "voila"), "notebooks/dashboard.ipynb", "--no-browser",
                             f"--port={port}"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert _wait_listening(port, proc, timeout=300), (tmp_path / "voila.log").read_text()[-2000:]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=300) as response:
            status, body = response.status, response.read().decode()
        assert status == 200
        assert "Content-Security-Policy" in body  # the workbench template, not the stock one
        assert not re.search(r"cdn\.|unpkg|jsdelivr|cdnjs", body)
    finally:
        _stop(proc, log)

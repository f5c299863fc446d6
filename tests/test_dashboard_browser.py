"""The Voilà dashboard in a real browser (Debian's chromium driven by Playwright).

Starts the dashboard exactly as `make dashboard` does (`churn-workbench dashboard`: voila.json,
the offline template) on a free 127.0.0.1 port against a snapshot of the fixture database, then,
in a 1280 px wide window: waits for the widgets, changes a filter and sees the table change,
opens a customer drill-down, pages the audit log, opens every tab, checks that no text is cut
and no table scrolls sideways, screenshots every tab, and asserts that the browser asked nothing
of any host but the local server. A second test shows the dashboard while another process holds
the workbench database read-write.

Chromium comes from Debian (`apt-get install chromium`); without it the tests are skipped.
Screenshots go to test-output/dashboard/ (git-ignored); docs/screenshots/ holds copies.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request

import pytest

from browser_support import (ROOT, assert_only_local, dashboard_env, free_port, launch, launcher_command, stop,
                             voila_command, wait_listening)
from churn_workbench.workspace import Workspace
from churn_workbench import db
from churn_workbench.audit import AuditLog
from churn_workbench.dashboard import publish
from test_dashboard_data import RUNS, build_fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]

OUTPUT = ROOT / "test-output" / "dashboard"
WIDTH = 1280
TABS = ("Overview", "Customers", "Model", "Governance", "Runs", "Effect")

# Everything on the page that is wider than the window, scrolls sideways, or cuts its text
# (an element that hides its overflow while its content is wider than its box).
LAYOUT_PROBLEMS = """() => {
    const width = document.documentElement.clientWidth;
    const problems = [];
    const visible = e => e.offsetParent !== null && e.getClientRects().length > 0;
    if (document.documentElement.scrollWidth > width + 1)
        problems.push(`the page is ${document.documentElement.scrollWidth}px wide`);
    for (const t of document.querySelectorAll('table.wb-table')) {
        if (!visible(t)) continue;
        if (t.getBoundingClientRect().right > width + 1)
            problems.push(`table wider than the window: ${t.innerText.slice(0, 60)}`);
        for (let p = t.parentElement; p && p !== document.body; p = p.parentElement) {
            if (p.scrollWidth > p.clientWidth + 1 && getComputedStyle(p).overflowX !== 'visible')
                problems.push(`table scrolls sideways: ${t.innerText.slice(0, 60)}`);
        }
    }
    for (const e of document.querySelectorAll('.wb-root *, .wb-tabs .lm-TabBar-tab *')) {
        if (!visible(e) || !e.innerText || e.children.length) continue;
        const s = getComputedStyle(e);
        const hides = s.overflowX === 'hidden' || s.overflowX === 'clip' || s.textOverflow === 'ellipsis';
        if (hides && e.scrollWidth > e.clientWidth + 1) problems.push(`text cut: "${e.innerText.slice(0, 60)}"`);
    }
    return [...new Set(problems)];
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("dashboard")
    fixture = build_fixture(root, publish=False)
    # More audit events than one page holds: 30 access requests answered after the runs.
    log = AuditLog(None, "subject")
    for i in range(30):
        log.event("subject_exported", subject_ref=fixture.refs.ref(f"C{i + 1:07d}"), files=2)
    with db.session(fixture.db_path) as con:
        log.flush(con)
        # Observed churn for the first run's experiment, so the Effect tab has figures to show.
        con.execute("INSERT INTO outcomes (run_id, customer_id, churned, observed_at, source) "
                    "SELECT run_id, customer_id, (hash(customer_id) % 3 = 0)::INTEGER, now(), 'test' FROM actions "
                    "WHERE run_id = ?", [RUNS[0]])
    publish.publish(Workspace.open(fixture.db_path, audit_dir=str(fixture.audit_dir)), fixture.snapshot_dir)
    port = free_port()
    env = dashboard_env(fixture.data_dir, fixture.db_path, fixture.audit_dir, root / "runtime",
                        WORKBENCH_MIN_CONTROL=2)  # a 40-customer fixture: groups of a few customers show figures
    log = open(root / "voila.log", "w")
    proc = subprocess.Popen(launcher_command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    if not wait_listening(port, proc):
        stop(proc)
        pytest.fail(f"the dashboard did not start: {(root / 'voila.log').read_text()[-2000:]}")
    yield fixture, f"http://127.0.0.1:{port}/", root
    stop(proc)
    log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


def _open(browser, url: str, requests: list[str]):
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
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
    page.wait_for_selector(f".wb-section-{title.lower()}", state="visible")


def _screenshot(page, name: str) -> None:
    """The whole dashboard: Voilà's page scrolls inside the template, so the window is made as tall
    as the dashboard for the picture, and put back after."""
    height = page.evaluate("() => Math.ceil(document.querySelector('.wb-root').getBoundingClientRect().bottom) + 40")
    page.set_viewport_size({"width": WIDTH, "height": max(900, height)})
    page.screenshot(path=str(OUTPUT / f"{name}.png"))
    page.set_viewport_size({"width": WIDTH, "height": 900})


def _check_layout(page, where: str) -> None:
    problems = page.evaluate(LAYOUT_PROBLEMS)
    assert not problems, f"{where}: {problems}"
    text = page.inner_text(".wb-root")
    assert "Warning" not in text and "Traceback" not in text and "Could not show this" not in text, where


@pytest.mark.browser
def test_dashboard_in_browser(server, browser):
    fixture, url, _ = server
    OUTPUT.mkdir(parents=True, exist_ok=True)
    requests: list[str] = []
    page = _open(browser, url, requests)

    # The page forbids the browser any source but this server (the offline "workbench" template).
    assert page.locator('meta[http-equiv="Content-Security-Policy"]').count() == 1
    assert "cdn.jsdelivr.net" not in page.content()

    # Overview: plain labels, a verified audit badge, what the run itself produced.
    page.wait_for_selector(".wb-kpis .wb-card")
    overview = page.inner_text(".wb-section-overview")
    assert "40" in page.inner_text(".wb-kpis") and "verified" in page.inner_text(".wb-root")
    assert "What the last run produced" in overview and "The store now holds 40 customers" in overview
    assert "average churn probability" in overview and re.search(r"\d+\.\d%", page.inner_text(".wb-kpis"))
    for raw in ("churn_probability", "avg_probability", "llm_requests", "analysed_feedback"):
        assert raw not in overview

    # Customers: plain column names, probabilities as percentages, yes/no; a filter changes the table.
    _tab(page, "Customers")
    count = page.locator(".wb-customer-count")
    count.wait_for()
    assert "40" in count.inner_text()
    header = page.inner_text(".wb-customer-table thead")
    assert "Churn probability" in header and "May be contacted" in header and "consent_" not in header
    cells = page.inner_text(".wb-customer-table tbody")
    assert re.search(r"\b\d{1,2}\.\d%", cells) and "True" not in cells and "False" not in cells
    page.select_option(".wb-filter-segment select", label="High")
    page.wait_for_function("""() => {
        const cells = [...document.querySelectorAll('.wb-customer-table tbody tr td:nth-child(2)')];
        return cells.length > 0 && cells.every(td => td.innerText.trim() === 'High');
    }""")
    page.wait_for_function("() => !document.querySelector('.wb-customer-count').innerText.startsWith('40 ')")
    shown = page.locator(".wb-customer-table tbody tr").count()
    assert int(re.match(r"([\d,]+)", count.inner_text()).group(1)) == shown < 40

    # Drill-down of the top customer: anonymized feedback, plain audit trail, no raw identifiers.
    page.click("button.wb-drill-show")
    page.wait_for_selector(".wb-drill-head")
    drill = page.inner_text(".wb-drill-out")
    assert "C0000001" in drill and "<PERSON_1>" in drill
    assert "a catalogue offer replaced the AI's" in drill and "pseudonym" in drill
    assert not re.search(r"[0-9a-f]{40}", drill), "a full hash in the drill-down"
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d{3}", drill), "a timestamp with fractions of a second"
    for raw in ("Anna Schmidt", "anna.schmidt7@example.com", "+44 7700 900123", "LC000000"):
        assert raw not in page.content()
    # The retention message keeps a readable width (it was once squeezed to a word per line).
    message_width = page.evaluate("""() => Math.min(...[...document.querySelectorAll('.wb-drill-action td.wb-wide')]
                                     .map(td => td.getBoundingClientRect().width))""")
    assert message_width >= 250
    _check_layout(page, "Customers")
    _screenshot(page, "customers")

    # Governance: the audit log is summarised and paged, any event opens in full.
    _tab(page, "Governance")
    page.wait_for_selector(".wb-audit-kinds table")
    governance = page.inner_text(".wb-section-governance")
    assert "a customer was left out: no consent for this purpose" in governance
    assert re.search(r"[\d,]+ event\(s\) match; showing 1–20", governance)
    assert page.locator(".wb-audit-table tbody tr").count() == 20
    first_seq = page.inner_text(".wb-audit-table tbody tr td:first-child")
    page.click("button.wb-audit-next")
    page.wait_for_function("first => { const td = document.querySelector('.wb-audit-table tbody tr td'); "
                           "return td !== null && td.innerText !== first; }", arg=first_seq)
    assert "showing 21–" in page.inner_text(".wb-section-governance")
    page.fill(".wb-audit-seq input", "1")
    page.press(".wb-audit-seq input", "Enter")
    page.wait_for_selector("pre.wb-json")
    page.fill(".wb-egress-search input", "batch 2")
    page.press(".wb-egress-search input", "Enter")
    page.wait_for_function("() => document.querySelector('.wb-section-governance').innerText.includes('2 request(s) match')")
    height = page.evaluate("() => document.querySelector('.wb-section-governance').getBoundingClientRect().height")
    assert height < 5000, f"the Governance tab is {height:.0f} px tall"

    # Every tab: nothing cut, nothing scrolling sideways at 1280 px; a screenshot each.
    for title in TABS:
        _tab(page, title)
        page.wait_for_load_state("networkidle")
        _check_layout(page, title)
        _screenshot(page, title.lower())
    _tab(page, "Model")
    model = page.inner_text(".wb-section-model")
    assert "ROC-AUC: how well the model ranks" in model and "Training data" in model
    _tab(page, "Effect")
    effect = page.inner_text(".wb-section-effect")
    assert re.search(r"[+-]\d+\.\d points", effect) and "ci_low" not in effect and "95% range" in effect
    _tab(page, "Runs")
    assert "Manifest written" in page.inner_text(".wb-section-runs")
    assert "has_manifest" not in page.inner_text(".wb-section-runs")
    # The layout check has teeth: a table wider than the window and a clipped label are both found.
    page.evaluate("""() => document.querySelector('.wb-section-runs .wb-root, .wb-section-runs').insertAdjacentHTML(
        'beforeend', `<div style="overflow-x:auto"><table class="wb-table"><tr><td style="white-space:nowrap">
        ${'wide '.repeat(400)}</td></tr></table></div><span style="display:inline-block;width:30px;overflow:hidden;
        white-space:nowrap">a label that does not fit</span>`)""")
    problems = page.evaluate(LAYOUT_PROBLEMS)
    assert any(p.startswith("table scrolls sideways") for p in problems), problems
    assert any(p.startswith('text cut: "a label') for p in problems), problems
    page.close()
    assert_only_local(requests)


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
        assert_only_local(requests)
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.browser
def test_empty_page_when_nothing_was_published(tmp_path, browser):
    port = free_port()
    env = dashboard_env(tmp_path / "data", tmp_path / "data" / "w.duckdb", tmp_path / "audit", tmp_path / "runtime")
    proc = subprocess.Popen(voila_command(port), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        assert wait_listening(port, proc), "voila did not start"
        page = browser.new_page()
        page.set_default_timeout(90_000)
        page.goto(url)
        page.wait_for_selector(".wb-empty-page")
        text = page.inner_text(".wb-empty-page")
        assert "make run" in text and "Traceback" not in page.content()
        page.close()
    finally:
        stop(proc)


def test_plain_voila_finds_the_offline_template(tmp_path):
    """`voila notebooks/dashboard.ipynb` as Voila users type it (no JUPYTER_PATH, no Makefile)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("JUPYTER_PATH",) and not k.startswith("WORKBENCH_")}
    env.update(WORKBENCH_DB=str(tmp_path / "ws" / "wb.duckdb"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    with open(tmp_path / "voila.log", "w") as log:
        proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "voila"), "notebooks/dashboard.ipynb", "--no-browser",
                                 f"--port={port}"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            assert wait_listening(port, proc, timeout=300), (tmp_path / "voila.log").read_text()[-2000:]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=300) as response:
                status, body = response.status, response.read().decode()
            assert status == 200
            assert "Content-Security-Policy" in body  # the workbench template, not the stock one
            assert not re.search(r"cdn\.|unpkg|jsdelivr|cdnjs", body)
        finally:
            stop(proc)


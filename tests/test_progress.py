"""Live progress of a run: a stage's steps reach the runner as counts, and the runner shows them
as one line rewritten in place on a terminal (counts, rate, time left), in a notebook as an
output updated in place, and nowhere in a log."""
from __future__ import annotations

import io
import json
import threading
import time

import pytest

from churn_workbench import progress
from churn_workbench.llm import progress as llm_progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _records(db_path, run_id):
    return llm_progress.read(db_path, run_id)[0]


def test_a_step_writes_counts_with_a_rate_from_its_first_item(tmp_path, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    db = tmp_path / "wb.duckdb"
    step = progress.step(db, "run-1", "feedback", "anonymizing feedback", total=1000, unit="texts")
    clock[0] += 30.0            # set-up before the first text (building the engine): not part of the rate
    step.advance(1)
    clock[0] += 2.0
    step.advance(499)
    clock[0] += 1.0
    step.finish()
    start, first, second, finish = _records(db, "run-1")
    assert [r["event"] for r in (start, first, second, finish)] == ["start", "progress", "progress", "finish"]
    assert second["done"] == 500 and second["rate_done"] == 499 and second["rate_s"] == 2.0
    assert second["total"] == 1000 and second["unit"] == "texts" and second["stage"] == "feedback"
    line = progress.describe(second)
    assert line == "anonymizing feedback 500/1,000 texts (50%) · 250/s · about 2 s left"
    assert progress.describe(finish) == "anonymizing feedback: done"
    # Records carry counts only: no text, no ids.
    assert set(second) == {"kind", "event", "stage", "task", "unit", "total", "done", "elapsed_s", "ts", "rate_s",
                           "rate_done"}


def test_counts_without_a_total_or_a_rate_yet():
    assert progress.describe({"kind": "step", "event": "start", "task": "scoring 1,854 customers", "done": 0}) \
        == "scoring 1,854 customers"
    # Under a second of counting: no rate, no estimate.
    assert progress.describe({"kind": "step", "event": "progress", "task": "t", "done": 5, "total": 10, "unit": "x",
                              "rate_done": 4, "rate_s": 0.2}) == "t 5/10 x (50%)"
    assert progress._duration(3725) == "1 h 02 min" and progress._duration(75) == "1 min 15 s"


def test_llm_records_are_described_with_their_counts():
    record = {"event": "progress", "stage": "act", "task": "actions", "provider": "groq", "model": "m", "done": 40,
              "total": 120, "ok": 37, "fallback": 2, "elapsed_s": 20.0}
    assert progress.describe(record) == "actions via groq:m 40/120 items (33%) · 2.0/s · about 40 s left (ok 37, fallback 2)"


def test_terminal_line_is_rewritten_in_place_and_cleared(tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "UPDATE_INTERVAL_S", 0)
    monkeypatch.setenv("TERM", "xterm")
    db, terminal, echoed = tmp_path / "wb.duckdb", _Terminal(), []
    line = progress.live_line(terminal)
    assert isinstance(line, progress._TerminalLine)
    seen = threading.Event()
    original_show = line.show

    def show(text):
        original_show(text)
        if "40/100 texts" in text:
            seen.set()
    line.show = show
    with progress.following(db, "run-2", "[2/5] feedback", echoed.append, line):
        step = progress.step(db, "run-2", "feedback", "anonymizing feedback", total=100, unit="texts")
        step.advance(40)
        assert seen.wait(10), terminal.getvalue()
    out = terminal.getvalue()
    assert out.startswith("\r[2/5] feedback · starting the stage's Python kernel · 0 s\x1b[K")
    assert "\r[2/5] feedback · anonymizing feedback 40/100 texts (40%) · " in out
    assert out.endswith("\r\x1b[K"), "the live line is erased when the stage ends"
    assert "\n" not in out and echoed == []


def test_no_live_line_in_a_log(tmp_path, monkeypatch):
    """A pipe or a file (cron, CI) gets no live line, and an LLM stage still gets its lines."""
    assert progress.live_line(io.StringIO()) is None
    monkeypatch.setenv("TERM", "dumb")
    assert progress.live_line(_Terminal()) is None
    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.01)
    db, echoed = tmp_path / "wb.duckdb", []
    reporter = llm_progress.Reporter(db, "run-3", "feedback", interval_s=0)
    with progress.following(db, "run-3", "[2/5] feedback", echoed.append, None):
        progress.step(db, "run-3", "feedback", "anonymizing feedback", total=10).advance(5)
        reporter.start("analysis", 10, "groq", "m")
        reporter.finish({"done": 10, "ok": 10, "requests": 2, "tokens": 900})
        deadline = time.monotonic() + 10
        while len(echoed) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert any("10 items to send" in e for e in echoed) and any("— done" in e for e in echoed)
    assert not any("anonymizing" in e for e in echoed), "step lines are for live displays only"


@pytest.mark.slow
def test_a_stage_step_run_by_hand_in_a_notebook_updates_its_output(tmp_path):
    """In a Jupyter kernel (JupyterLab) the step is an output replaced in place, not a widget."""
    import nbformat
    from nbclient import NotebookClient
    code = f"""
from churn_workbench import progress
line = progress.live_line()
print(type(line).__name__)
step = progress.step({str(tmp_path / 'wb.duckdb')!r}, "interactive-x", "feedback", "anonymizing feedback",
                     total=3, unit="texts", interactive=True)
step.advance(3)
step.finish()
"""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    outputs = nb.cells[0].outputs
    assert any(o.get("text", "").strip() == "_NotebookLine" for o in outputs)
    shown = [o for o in outputs if o["output_type"] == "display_data"]
    assert shown and json.dumps(shown[-1]["data"]).count("anonymizing feedback: done") == 1
    assert not (tmp_path / ".progress").exists(), "a step run by hand writes no progress file"

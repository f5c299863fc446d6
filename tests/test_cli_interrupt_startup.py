"""A Ctrl-C or SIGTERM at any moment while the command line loads ends in one line and exit 130
(143 for SIGTERM), never a traceback or exit 1 (an `ImportError` from a compiled module whose
initialisation the signal interrupted). The signal is sent at a spread of moments; where it lands
depends on the machine, and the promise must hold wherever it lands."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow


MOMENTS = [0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.45, 0.6, 0.9]
# Both signals go through the one handler the entry installs: they take turns over the moments,
# so each is sent early, mid-way and late (a signal that misses the loading costs a whole run).
SIGNALS = [(after, *((signal.SIGINT, 130) if i % 2 == 0 else (signal.SIGTERM, 143))) for i, after in enumerate(MOMENTS)]


@pytest.mark.parametrize("after,sig,code", SIGNALS, ids=[f"{a}-{s.name}" for a, s, _ in SIGNALS])
def test_a_signal_while_loading_ends_in_one_line(tmp_path, sig, code, after):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT / "lib"),
           "WORKBENCH_SIGNING_KEY_FILE": str(tmp_path / "keys" / "k.pem"),
           "WORKBENCH_HEADS_FILE": str(tmp_path / "keys" / "heads.jsonl")}
    # --help does all the loading and then exits 0: a signal after it finished finds nothing to stop.
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_pipeline.py"), "--synthetic", "50", "--quiet",
                             "--db", str(tmp_path / "data" / "wb.duckdb"), "--stages", "ingest"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(after)  # not a threshold: the moment the signal is sent, varied on purpose
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=300)
    assert "Traceback" not in out + err, err
    if proc.returncode == 0:
        return  # the run finished before the signal arrived
    if proc.returncode == -sig:  # before the interpreter ran any of our code: ended by the signal, silently
        assert out == err == ""
        return
    assert proc.returncode == code, (proc.returncode, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert "interrupted" in lines[-1] and ("Ctrl-C" if sig == signal.SIGINT else "SIGTERM") in lines[-1], err
    assert len(lines) == 1 or "resume it with" in lines[-1] or "marked interrupted" in err, err


def test_an_import_a_signal_broke_counts_as_the_signal():
    """DuckDB's `ImportError: initialization failed`, caused by the KeyboardInterrupt the SIGTERM
    handler raised inside it, is the interruption, not a failure (a lazy import in the command line)."""
    from churn_workbench.__main__ import _interruption

    try:
        try:
            raise KeyboardInterrupt("SIGTERM")
        except KeyboardInterrupt as signal_exc:
            raise ImportError("initialization failed") from signal_exc
    except ImportError as exc:
        assert _interruption(exc) == "SIGTERM"
    assert _interruption(ImportError("no module named x")) is None
    assert _interruption(KeyboardInterrupt()) == "SIGINT"

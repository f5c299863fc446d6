"""Workspaces built once by real pipeline runs and restored for each test that uses them.

A full `run_pipeline.py` run (five papermill kernels) takes half a minute or more; most tests only
read what one left behind, or tamper with it. So each mode below is built once per test worker
(`make test` puts every test of a mode on one xdist worker: conftest.py gives them one group)
and each test gets it back as built:

    def test_x(built_local):
        ws = built_local.restore()          # a Workspace (conftest.py), exactly as the build left it

`restore()` puts a pristine copy back at the build's own path, because runs record absolute
paths (manifests, the model registry, signed heads name the database's path). Tests that need a
run of their own (interrupt and resume, concurrency, a specific hostile input file) start one.

Modes:
- local: two full runs (`run-1`, `run-2`) over 300 synthetic customers, seed 3, offline analyzer;
  their terminal output in `run-1.out` and `run-2.out` under the workspace root.
- openai: one full run (`llm-1`) with `--llm openai` against a recording fake server, over the
  200 synthetic customers of seed 5 written to files (`inputs/`), plus the hostile feedback of
  tests/pii_probes.py under the first ten customers (the tenth is the probes' victim: their
  name, e-mail and phone), who consented to everything. What the server received is in
  `requests.json`, which customer got which probe in `probes.json`, the output in `llm-1.out`.
- loop: the README's "Closing the loop" commands as written (an experiment `trial-1`, its
  simulated outcomes, then `trial-2` targeting by uplift); their output in `trial-1.out`,
  `outcomes.out` and `trial-2.out`.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT, Workspace, pipeline_env
from pii_probes import PROBES, VICTIM

LOCAL_RUN = ["--synthetic", "300", "--seed", "3"]
OPENAI_SYNTHETIC = (200, 5)
BUILD_TIMEOUT_S = 900
# Builds run under a typical user's umask (files 0644 by default), so any file of theirs that is
# private is the product's doing, whatever umask the test process has been left with.
TYPICAL_UMASK = 0o022


def run_pipeline(ws: Workspace, *args, env: dict | None = None, timeout: int = BUILD_TIMEOUT_S) -> subprocess.CompletedProcess:
    """`run_pipeline.py --quiet *args` in a subprocess confined to `ws` (real kernels), umask 022."""
    return subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "--quiet", *map(str, args)], cwd=ROOT,
                          env=pipeline_env(ws, **(env or {})), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, umask=TYPICAL_UMASK)


def _succeeded(result: subprocess.CompletedProcess, what: str) -> None:
    if result.returncode != 0:
        pytest.fail(f"building the {what} workspace failed (exit {result.returncode}):\n{result.stdout[-3000:]}\n"
                    f"{result.stderr[-3000:]}", pytrace=False)


def build_local(ws: Workspace) -> None:
    for run_id in ("run-1", "run-2"):
        result = run_pipeline(ws, *LOCAL_RUN, "--run-id", run_id)
        _succeeded(result, "local")
        (ws.root / f"{run_id}.out").write_text(result.stdout)


def openai_inputs(folder: Path) -> tuple[list[str], dict[str, str]]:
    """The synthetic customers, feedback and consent as files, with the probes; returns the
    command-line arguments and which customer carries which probe."""
    from churn_workbench import synthetic
    data = synthetic.generate(*OPENAI_SYNTHETIC)
    customers, feedback, consent = data.customers.copy(), data.feedback.copy(), data.consent.copy()
    ids = sorted(customers["customer_id"])[:len(PROBES)]
    probes = {label: cid for (label, _, _), cid in zip(PROBES, ids)}
    victim = customers["customer_id"] == probes[VICTIM["probe"]]
    customers.loc[victim, ["name", "email", "phone"]] = [VICTIM["name"], VICTIM["email"], VICTIM["phone"]]
    feedback = pd.concat([feedback, pd.DataFrame(
        [{"feedback_id": f"PROBE{k:02d}", "customer_id": probes[label], "text": text,
          "created_at": pd.Timestamp("2026-01-15 10:00"), "channel": "email"}
         for k, (label, text, _) in enumerate(PROBES, start=1)])], ignore_index=True)
    later = consent["recorded_at"].max() + pd.Timedelta(days=1)   # the latest record wins
    consent = pd.concat([consent, pd.DataFrame(
        [{"customer_id": cid, "purpose": purpose, "granted": True, "recorded_at": later, "source": "probe"}
         for cid in ids for purpose in ("profiling", "external_llm", "marketing")])], ignore_index=True)
    folder.mkdir(parents=True, exist_ok=True)
    args = []
    for name, frame in (("customers", customers), ("feedback", feedback), ("consent", consent)):
        frame.to_csv(folder / f"{name}.csv", index=False)
        args += [f"--{name}", str(folder / f"{name}.csv")]
    return args, probes


def llm_env(server) -> dict:
    """The fake server for both SDKs, without client-side limits (they would only slow tests down)."""
    return dict(server.env(), WORKBENCH_LLM_RPM="0", WORKBENCH_LLM_TPM="0", WORKBENCH_LLM_PROGRESS="false")


def build_openai(ws: Workspace) -> None:
    from fake_llm_server import FakeLLMServer
    args, probes = openai_inputs(ws.root / "inputs")
    with FakeLLMServer(seed=3) as server:
        result = run_pipeline(ws, *args, "--llm", "openai", "--run-id", "llm-1", env=llm_env(server))
        requests = [{"path": r.path, "body": r.body} for r in server.chat_requests()]
    _succeeded(result, "openai")
    (ws.root / "llm-1.out").write_text(result.stdout)
    (ws.root / "requests.json").write_text(json.dumps(requests))
    (ws.root / "probes.json").write_text(json.dumps(probes))


def readme_loop() -> list[str]:
    """The README's closing-the-loop commands, as a user would paste them."""
    section = (ROOT / "README.md").read_text().split("## Closing the loop", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def build_loop(ws: Workspace) -> None:
    commands = readme_loop()
    assert len(commands) == 3, commands
    for command, name in zip(commands, ("trial-1", "outcomes", "trial-2")):
        result = subprocess.run(command + " --quiet" * ("--simulate" not in command), shell=True, cwd=ROOT,
                                env=pipeline_env(ws), capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
                                stdin=subprocess.DEVNULL, umask=TYPICAL_UMASK)
        _succeeded(result, f"loop ({command})")
        (ws.root / f"{name}.out").write_text(result.stdout)


MODES = {"local": build_local, "openai": build_openai, "loop": build_loop}


class Built:
    """One mode's workspace: built on first use, restored as built for every test."""

    def __init__(self, mode: str, base: Path):
        self.mode, self.base = mode, base
        self.ws = Workspace.at(base / "ws")
        self.pristine = base / "pristine"

    def restore(self) -> Workspace:
        if not self.pristine.exists():
            shutil.rmtree(self.ws.root, ignore_errors=True)
            self.ws = Workspace.at(self.ws.root)
            MODES[self.mode](self.ws)
            shutil.copytree(self.ws.root, self.pristine, symlinks=True)
        else:
            shutil.rmtree(self.ws.root)
            shutil.copytree(self.pristine, self.ws.root, symlinks=True)
        return self.ws

    # What the build recorded beside the workspace.
    def output(self, run_id: str) -> str:
        return (self.pristine / f"{run_id}.out").read_text()

    def requests(self) -> list[dict]:
        return json.loads((self.pristine / "requests.json").read_text())

    def probes(self) -> dict[str, str]:
        return json.loads((self.pristine / "probes.json").read_text())


@pytest.fixture(scope="session")
def built_local(tmp_path_factory) -> Built:
    return Built("local", tmp_path_factory.getbasetemp() / "built-local")


@pytest.fixture(scope="session")
def built_openai(tmp_path_factory) -> Built:
    return Built("openai", tmp_path_factory.getbasetemp() / "built-openai")


@pytest.fixture(scope="session")
def built_loop(tmp_path_factory) -> Built:
    return Built("loop", tmp_path_factory.getbasetemp() / "built-loop")

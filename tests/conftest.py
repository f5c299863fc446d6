"""Shared fixtures: every test gets its own home, signing key and heads file; tests that run the
product get their own data dir, DuckDB file and audit dir (`workspace`, `pipeline_env`).

Tiers (README, "Tests"): `make test-fast` runs what is not marked `slow` (pure unit tests and
stages called in this process on tiny data); `make test` runs everything. The pipeline-level
tests share one built workspace per mode (tests/workspaces.py) instead of each running its own.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Variables of the person running the tests that must not steer them.
_OUTSIDE = ("WORKBENCH_LLM", "WORKBENCH_LLM_PROFILE", "WORKBENCH_SUBJECT_KEY", "WORKBENCH_HOME", "GROQ_API_KEY",
            "GROQ_BASE_URL", "GROQ_LOG", "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_LOG")


@pytest.fixture(scope="session")
def _shared_caches(tmp_path_factory) -> Path:
    """Matplotlib's font cache and IPython's profile, built once per session, not once per home."""
    return tmp_path_factory.mktemp("caches")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, _shared_caches, monkeypatch) -> Path:
    """A home of its own for every test, so nothing a test runs (in this process or a subprocess,
    which inherits the environment) touches the user's real ~/.config or ~/.local/state: the
    signing key and the heads file point into it explicitly too."""
    return isolate_home(monkeypatch, tmp_path_factory.mktemp("home"), _shared_caches)


def isolate_home(monkeypatch, home: Path, caches: Path) -> Path:
    """Point HOME, the signing key, the heads file and the caches at `home` and `caches`, and drop
    the person's own settings. Also for fixtures wider than one test (a module-scoped fixture is
    made before the test's own home exists): use it there with `pytest.MonkeyPatch.context()`."""
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("WORKBENCH_SIGNING_KEY_FILE", str(home / ".config" / "churn-workbench" / "signing_key.pem"))
    monkeypatch.setenv("WORKBENCH_HEADS_FILE", str(home / ".local" / "state" / "churn-workbench" / "heads.jsonl"))
    monkeypatch.setenv("MPLCONFIGDIR", str(caches / "matplotlib"))
    monkeypatch.setenv("IPYTHONDIR", str(caches / "ipython"))
    for name in _OUTSIDE:
        monkeypatch.delenv(name, raising=False)
    return home


@dataclass
class Workspace:
    root: Path
    data_dir: Path
    db_path: Path
    audit_dir: Path

    @classmethod
    def at(cls, root: Path) -> "Workspace":
        """The layout every pipeline test uses: data/ and audit/ under root (keys and heads beside them)."""
        ws = cls(root, root / "data", root / "data" / "workbench.duckdb", root / "audit")
        ws.data_dir.mkdir(parents=True, exist_ok=True)
        return ws

    @property
    def heads(self) -> Path:
        return self.root / "heads" / "heads.jsonl"

    @property
    def signing_key(self) -> Path:
        return self.root / "keys" / "signing_key.pem"


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Workspace:
    ws = Workspace.at(tmp_path)
    for name, value in workspace_env(ws).items():
        monkeypatch.setenv(name, value)
    return ws


def workspace_env(ws: Workspace) -> dict[str, str]:
    """The variables that confine the product to `ws`. Signed heads: the key and the heads file
    live outside data/ and audit/, and never in $HOME."""
    return {"WORKBENCH_DATA_DIR": str(ws.data_dir), "WORKBENCH_DB": str(ws.db_path),
            "WORKBENCH_AUDIT_DIR": str(ws.audit_dir), "WORKBENCH_SIGNING_KEY_FILE": str(ws.signing_key),
            "WORKBENCH_HEADS_FILE": str(ws.heads)}


# A few hundred customers cannot always lift a model over the quality floor, and some runs use
# tables below the size a model is trained from; pipeline tests test the pipeline, and the floor
# and the minimum have tests of their own (test_model_gate.py). With the floor off, the nested
# evaluation (about six times the training time on tables this small) would only make the same
# gate decision slower: these runs take the selection-corrected figures (docs/model.md), and the
# nested ones are proven by the model and gate tests, which train at the default.
SMALL_TABLE_MODEL = {"WORKBENCH_MODEL_MIN_AUC": "0", "WORKBENCH_MODEL_MIN_LABELLED": "20",
                     "WORKBENCH_MODEL_MIN_PER_CLASS": "5", "WORKBENCH_MODEL_NESTED_MAX_ROWS": "0"}


def pipeline_env(ws: Workspace, **extra) -> dict:
    """Environment for a run_pipeline.py subprocess confined to the workspace."""
    env = dict(os.environ, **workspace_env(ws), PYTHONUNBUFFERED="1", **SMALL_TABLE_MODEL)
    env.update({k: str(v) for k, v in extra.items()})
    return env


# --------------------------------------------------------------------------- grouping and ordering for xdist
# `make test` and `make test-fast` run with --dist loadgroup: tests that share an expensive fixture
# are kept on one worker, so it is made once. A test that uses a built workspace (tests/workspaces.py)
# is slow and joins that mode's group; one that uses the session's edge-case run joins its group;
# the tests of a file that share a module-scoped fixture stay together (one group per set of
# fixtures that tests share, so a file's independent fixtures are built on different workers).
# xdist hands out the largest groups first; then single tests in the order below: the files of long
# tests and pipelines of their own go first, since a long one started last keeps every other
# worker idle until it ends. The sort is stable: the order inside a file stays.
_SHARED = {"built_local": "ws-local", "built_openai": "ws-openai", "built_loop": "ws-loop", "edge_run": "edge-run"}
_LONG_FIRST = ("module:test_model_contract.py", "ws-openai", "ws-local", "ws-loop", "test_robustness.py", "test_egress.py",
               "module:test_egress_pipeline.py", "test_api.py", "test_model_contract.py", "test_uplift.py",
               "test_pipeline.py", "test_dashboard_browser.py", "test_llm_real_server.py", "test_notebooks.py",
               "module:test_model.py", "test_train_stage.py", "test_consent.py", "test_audit.py", "test_model.py",
               "test_explain.py", "test_erasure_registry.py", "test_subject_erasure.py", "test_erasure_interrupt.py",
               "test_erasure_canonical_forms.py", "test_erasure_tombstone_inputs.py", "test_inputs.py", "test_cli.py",
               "test_llm_providers.py", "test_pii_eval.py", "test_boundary_export_subfolders.py", "test_subjects.py")


def _module_fixtures(item) -> list[str]:
    defs = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    return sorted(name for name, d in defs.items() if d and d[-1].scope == "module")


def _groups(items) -> dict[str, str | None]:
    """Each test's group: a shared workspace's, or (tests of one file joined by the module-scoped
    fixtures they share) the file's and the first fixture's name, or none."""
    owner: dict[tuple[str, str], tuple[str, str]] = {}   # union-find over (file, fixture)

    def root(key):
        while owner.setdefault(key, key) != key:
            key = owner[key]
        return key

    for item in items:
        keys = [(item.path.name, name) for name in _module_fixtures(item)]
        for key in keys[1:]:
            a, b = root(keys[0]), root(key)
            if a != b:
                owner[max(a, b)] = min(a, b)
    groups = {}
    for item in items:
        names = getattr(item, "fixturenames", ())
        shared = [group for name, group in _SHARED.items() if name in names]
        fixtures = _module_fixtures(item)
        if shared:
            groups[item.nodeid] = shared[0]
        elif fixtures:
            file, fixture = root((item.path.name, fixtures[0]))
            groups[item.nodeid] = f"module:{file}:{fixture}"
        else:
            groups[item.nodeid] = None
    return groups


def _file_group(group: str | None) -> str | None:
    """`module:<file>` for a module group (the name _LONG_FIRST ranks), else the group."""
    return ":".join(group.split(":")[:2]) if group and group.startswith("module:") else group


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config, items):
    groups = _groups(items)
    for item in items:
        group = groups[item.nodeid]
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
        if group in ("ws-local", "ws-openai", "ws-loop"):
            item.add_marker(pytest.mark.slow)
    rank = {name: i for i, name in enumerate(_LONG_FIRST)}
    items.sort(key=lambda item: min(rank.get(_file_group(groups[item.nodeid]), len(rank)), rank.get(item.path.name, len(rank))))
    _GroupScheduling.publish(config, {nodeid: group for nodeid, group in groups.items() if group})


class _GroupScheduling:
    """--dist loadgroup, by the groups above.

    xdist marks a test's group by appending "@group" to its node id, which pytest 9 no longer
    lets a plugin change, so the groups would silently be ignored and each worker would build
    every workspace again. Instead, each worker writes the groups it collected to a folder the
    controller names (in the environment the workers inherit), and the controller schedules
    whole groups from it (xdist's load-scope scheduling, with the group as the scope).
    """

    ENV = "CHURN_WORKBENCH_TEST_GROUPS"

    @classmethod
    def publish(cls, config, groups: dict[str, str]) -> None:
        folder = os.environ.get(cls.ENV)
        worker = getattr(config, "workerinput", {}).get("workerid")
        if folder and worker:
            path = Path(folder) / f"{worker}.json"
            path.with_suffix(".tmp").write_text(json.dumps(groups))
            path.with_suffix(".tmp").replace(path)

    @classmethod
    def scheduler(cls, config, log):
        from xdist.scheduler import LoadScopeScheduling
        folder = Path(os.environ[cls.ENV])

        class Grouped(LoadScopeScheduling):
            groups: dict[str, str] | None = None

            def _split_scope(self, nodeid: str) -> str:
                if self.groups is None:   # every worker has reported its collection by now
                    self.groups = {k: v for p in folder.glob("*.json") for k, v in json.loads(p.read_text()).items()}
                return self.groups.get(nodeid, nodeid)

        return Grouped(config, log)


def pytest_configure(config):
    if config.getvalue("dist") == "loadgroup" and not hasattr(config, "workerinput"):
        import tempfile
        os.environ[_GroupScheduling.ENV] = tempfile.mkdtemp(prefix="test-groups-")


def pytest_unconfigure(config):
    if config.getvalue("dist") == "loadgroup" and not hasattr(config, "workerinput"):
        import shutil
        shutil.rmtree(os.environ.pop(_GroupScheduling.ENV, ""), ignore_errors=True)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") == "loadgroup" and _GroupScheduling.ENV in os.environ:
        return _GroupScheduling.scheduler(config, log)
    return None


from workspaces import built_local, built_loop, built_openai  # noqa: E402,F401  (the built-workspace fixtures)

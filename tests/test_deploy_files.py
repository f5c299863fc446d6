"""Deployment files: docker-compose.yml against the Compose specification (offline), the
Dockerfile, environment.yml (no second dependency list), Voilà's settings, the dashboard
notebook as committed, and the Makefile's targets (dry runs, and a taken dashboard port)."""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("pipeline", "lab", "dashboard")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads((ROOT / "tests" / "compose-spec.json").read_text())
    # The file declares draft 2019-09 as "http://json-schema.org/draft/2019-09/schema#", a spelling
    # jsonschema does not map by itself: name the draft explicitly.
    assert "2019-09" in schema["$schema"]
    jsonschema.Draft201909Validator.check_schema(schema)
    return jsonschema.Draft201909Validator(schema)


def test_compose_validates_against_the_compose_spec(compose):
    errors = sorted(_validator().iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_compose_schema_rejects_a_broken_file():
    """The schema check has teeth: an unknown service key and a bad port type fail."""
    validator = _validator()
    assert list(validator.iter_errors({"services": {"x": {"image": "a", "prots": ["1:1"]}}}))
    assert list(validator.iter_errors({"services": {"x": {"image": "a", "ports": [{"target": "not-a-number"}]}}}))


def _mounts(service: dict) -> set[str]:
    out = set()
    for volume in service.get("volumes", []):
        source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source")
        target = volume.split(":")[1] if isinstance(volume, str) else volume.get("target")
        out.add(f"{source}:{target}")
    return out


def _published(service: dict) -> dict[int, str]:
    """container port -> host address it is published on."""
    out = {}
    for port in service.get("ports", []):
        parts = str(port).split(":")
        host_ip = parts[0] if len(parts) == 3 else "0.0.0.0"
        out[int(parts[-1].split("/")[0])] = host_ip
    return out


def test_compose_services_share_data_and_audit_and_env_file(compose):
    services = compose["services"]
    assert set(SERVICES) <= set(services)
    for name in SERVICES:
        service = services[name]
        assert {"./data:/app/data", "./audit:/app/audit", "./keys:/app/keys", "./heads:/app/heads"} \
            <= _mounts(service), name
        env_file = service.get("env_file")
        assert env_file == ".env" or (isinstance(env_file, list) and ".env" in env_file), name
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
        assert service.get("build") or service.get("image"), name
    assert _published(services["lab"]) == {8888: "127.0.0.1"}
    assert _published(services["dashboard"]) == {8866: "127.0.0.1"}
    assert not services["pipeline"].get("ports")


def test_compose_commands(compose):
    services = compose["services"]
    dashboard = " ".join(services["dashboard"]["command"])
    # The launcher: voila.json's settings, and a token because it listens beyond loopback in the container.
    assert dashboard.startswith("python -m churn_workbench dashboard") and "--port 8866" in dashboard
    assert "--generate-token" in dashboard
    assert "8866" in " ".join(services["dashboard"]["healthcheck"]["test"])
    lab = " ".join(services["lab"]["command"])
    assert lab.startswith("jupyter lab") and "--ServerApp.port=8888" in lab
    for offline in ("--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                    "--LabApp.extension_manager=readonly"):
        assert offline in lab
    assert "run_pipeline.py" in " ".join(services["pipeline"]["command"])
    # Secrets arrive through env_file only, never as literal values in the compose file.
    text = (ROOT / "docker-compose.yml").read_text()
    assert not re.search(r"(API_KEY|TOKEN|SECRET)\s*[:=]\s*\S", text)


def test_dockerfile_installs_the_project_with_pip():
    text = (ROOT / "Dockerfile").read_text()
    instructions = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert instructions[0].startswith("FROM python:3.11")
    assert re.search(r"pip install (-c requirements.lock )?(-e )?\.(\s|$|\[)", text), "the project itself must be pip-installed"
    # pyproject.toml is the only dependency list; requirements.lock only pins its versions (-c).
    assert [line for line in text.lower().splitlines() if "requirements" in line and not line.strip().startswith("#")] \
        == ["copy pyproject.toml readme.md requirements.lock ./", "run pip install -c requirements.lock -e . \\"]
    assert any(i.startswith("USER ") and "root" not in i for i in instructions), "the services must not run as root"
    assert "JUPYTER_PATH=/app/share/jupyter" in text, "Voilà needs the offline template"
    assert not re.search(r"(API_KEY|TOKEN|SECRET)\s*=\s*\S", text)
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ".env" in ignore and "**/audit/" in ignore and ".venv" in ignore
    # Default-deny: the image takes the files it runs, named, never the whole build context.
    assert not [i for i in instructions if re.fullmatch(r"COPY\s+\.\s+\S+", i)]


def test_environment_yml_has_no_second_dependency_list():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    pip = [d for d in deps if isinstance(d, dict)]
    assert sorted(conda) == ["pip", "python=3.11"], "conda installs only Python and pip"
    assert pip == [{"pip": ["-c requirements.lock", "-e .[dev]"]}], \
        "pip installs only this project (pyproject.toml is the one list), at the locked versions"
    assert "requires-python" in (ROOT / "pyproject.toml").read_text()


def test_voila_settings_are_offline_culled_and_source_free():
    config = json.loads((ROOT / "voila.json").read_text())
    voila = config["VoilaConfiguration"]
    assert voila["strip_sources"] is True and voila["show_tracebacks"] is False
    assert config["MappingKernelManager"]["cull_idle_timeout"] > 0
    assert config["MappingKernelManager"]["cull_interval"] > 0
    assert config["Voila"]["ip"] == "127.0.0.1"
    template = ROOT / "share" / "jupyter" / "voila" / "templates" / voila["template"]
    assert json.loads((template / "conf.json").read_text())["base_template"] == "lab"
    index = (template / "index.html.j2").read_text()
    code = re.sub(r"\{#.*?#\}", "", index, flags=re.S)  # comments may name the CDN they remove
    assert "http://" not in code and "https://" not in code
    assert "Content-Security-Policy" in code and "default-src 'self'" in code


def test_dashboard_notebook_is_committed_clean_with_parameters():
    nb = json.loads((ROOT / "notebooks" / "dashboard.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1 and 'snapshot_dir = ""' in "".join(params[0]["source"])
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


# --------------------------------------------------------------------------- the Makefile
def _make(target_dir, *args, timeout=60):
    return subprocess.run(["make", "--no-print-directory", *args], cwd=target_dir, capture_output=True, text=True,
                          timeout=timeout)


def test_make_rebuilds_a_venv_made_by_an_unsupported_python(tmp_path):
    (tmp_path / "Makefile").write_text((ROOT / "Makefile").read_text())
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "requirements.lock").write_text("")
    fake = tmp_path / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'Python 3.9.2'; exit 0; fi\nexit 1\n")
    fake.chmod(0o755)
    (tmp_path / ".venv" / ".installed").write_text("")
    result = _make(tmp_path, "-n", "setup", f"PYTHON={sys.executable}")
    assert ".venv was built by Python 3.9.2, not Python 3.11 or 3.12: removing it" in result.stdout, result.stdout
    assert not (tmp_path / ".venv").exists()
    assert "-m venv .venv" in result.stdout  # and the dry run shows it being rebuilt
    # A venv whose interpreter disappeared (the base Python was removed) is rebuilt the same way.
    fake.parent.mkdir(parents=True)
    fake.symlink_to(tmp_path / "gone" / "python3.11")
    result = _make(tmp_path, "-n", "setup", f"PYTHON={sys.executable}")
    assert "a Python that no longer runs" in result.stdout and not (tmp_path / ".venv").exists()
    # A healthy venv is left alone.
    healthy = _make(ROOT, "-n", "setup")
    assert "removing it" not in healthy.stdout


def test_make_dashboard_refuses_a_taken_port_clearly(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # -o: never remake the venv stamp here (a test must not run pip, whatever the files' times).
        result = _make(ROOT, "-o", ".venv/.installed", "dashboard", f"PORT={port}", f"DB={tmp_path / 'wb.duckdb'}")
    assert result.returncode != 0
    # make's own trailer names its level when make runs inside make (`make[1]: ***` under `make test`).
    lines = [line for line in result.stderr.splitlines() if not re.match(r"make(\[\d+\])?: \*\*\*", line)]
    assert len(lines) == 1 and f"port {port} on 127.0.0.1 is not available" in lines[0] and "another" in lines[0], \
        result.stderr


def test_make_targets_take_another_database():
    dry = _make(ROOT, "-n", "dashboard", "verify", "run", "DB=/tmp/other/wb.duckdb")
    assert "WORKBENCH_DB=/tmp/other/wb.duckdb .venv/bin/python -m churn_workbench dashboard" in dry.stdout
    assert "run_pipeline.py verify --db /tmp/other/wb.duckdb" in dry.stdout
    assert "run_pipeline.py --db /tmp/other/wb.duckdb" in dry.stdout


def test_make_has_a_fast_tier_and_installs_chromium_only_where_it_can():
    dry = _make(ROOT, "-n", "test-fast", "test")
    fast, full = [line for line in dry.stdout.splitlines() if "-m pytest" in line]
    assert '-m "not slow"' in fast and "-n auto" in fast and "--dist loadgroup" in fast
    assert "-m " not in full.split("pytest", 1)[1] and "--dist loadgroup" in full
    recipe = _make(ROOT, "-n", "-B", "chromium").stdout
    assert "command -v chromium" in recipe and "apt-get install -y" in recipe and 'id -u' in recipe
    assert "will be skipped" in recipe   # no root, no apt-get: a note, and make goes on
    assert "playwright install" not in _make(ROOT, "-n", "-B", "setup").stdout


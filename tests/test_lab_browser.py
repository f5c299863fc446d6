"""JupyterLab as `make lab` and the compose service start it: no deprecation warning on the
terminal, no "receive Jupyter news?" question, and a notebook opened from notebooks/ is not
marked modified (its kernelspec and language_info are what the project's kernel reports)."""
from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import nbformat
import pytest
import yaml

from browser_support import ROOT, free_port, launch, stop, wait_listening

LAB_FLAGS = ("--LabApp.app_settings_dir=", "--ServerApp.jpserver_extensions=notebook_shim=False",
             "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate")


def _compose_lab_command() -> list[str]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["lab"]["command"]


def test_make_lab_and_the_compose_service_use_the_same_quiet_flags():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nlab:", 1)[1].split("\n\n", 1)[0]
    compose = " ".join(_compose_lab_command())
    for flag in LAB_FLAGS:
        assert flag in recipe and flag in compose, flag
    settings = json.loads((ROOT / "share/jupyter/lab/settings/overrides.json").read_text())
    assert settings["@jupyterlab/apputils-extension:notification"] == {"fetchNews": "false", "checkForUpdates": False}


def test_committed_notebooks_carry_the_project_kernels_metadata():
    from ipykernel.ipkernel import IPythonKernel
    kernel = json.loads((Path(sys.executable).parent.parent / "share/jupyter/kernels/python3/kernel.json").read_text()) \
        if (Path(sys.executable).parent.parent / "share/jupyter/kernels/python3/kernel.json").exists() else None
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        meta = nbformat.read(path, as_version=4).metadata
        if kernel:
            assert meta.kernelspec == {"display_name": kernel["display_name"], "language": "python", "name": "python3"}
        expected = dict(IPythonKernel.language_info)
        # The patch version is the interpreter's: another one marks the notebook modified once.
        assert {k: v for k, v in meta.language_info.items() if k != "version"} == \
            {k: v for k, v in expected.items() if k != "version"}, path.name


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    notebooks = root / "notebooks"
    notebooks.mkdir()
    shutil.copy(ROOT / "notebooks" / "01_ingest.ipynb", notebooks / "as_committed.ipynb")
    old = nbformat.read(ROOT / "notebooks" / "01_ingest.ipynb", as_version=4)
    old.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                    "language_info": {"name": "python"}}
    nbformat.write(old, notebooks / "old_metadata.ipynb")
    port, token = free_port(), secrets.token_hex(16)
    command = [str(Path(sys.executable).parent / "jupyter"), *_compose_lab_command()[1:]]
    replace = {"--ServerApp.ip=": "127.0.0.1", "--ServerApp.port=": str(port), "--ServerApp.root_dir=": str(root),
               "--LabApp.app_settings_dir=": str(ROOT / "share/jupyter/lab/settings")}
    command = [next((k + v for k, v in replace.items() if part.startswith(k)), part) for part in command]
    command += ["--allow-root", "--no-browser", f"--IdentityProvider.token={token}"]
    env = {**__import__("os").environ, "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
           "JUPYTER_CONFIG_DIR": str(root / "config"), "JUPYTERLAB_SETTINGS_DIR": str(root / "user-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces")}
    log = open(root / "lab.log", "w")
    proc = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    if not wait_listening(port, proc):
        stop(proc)
        pytest.fail(f"jupyter lab did not start: {(root / 'lab.log').read_text()[-2000:]}")
    yield f"http://127.0.0.1:{port}", token, root
    stop(proc)
    log.close()


def _open(browser, base: str, token: str, name: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(120_000)
    page.goto(f"{base}/lab/tree/notebooks/{name}?token={token}")
    page.wait_for_selector(".jp-Notebook")
    # The kernel has answered (kernelspec and language_info are set from its reply by then).
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")
    page.wait_for_function("() => [...document.querySelectorAll('.jp-Toolbar-kernelName')]"
                           ".some(e => e.innerText.includes('churn workbench'))")
    return page


def _dirty(page, name: str) -> bool:
    return page.locator(f".lm-TabBar-tab.jp-mod-dirty:has-text('{name}')").count() > 0


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(900)
def test_lab_opens_notebooks_unmodified_without_news_or_warnings(lab):
    from playwright.sync_api import sync_playwright
    base, token, root = lab
    request = urllib.request.Request(f"{base}/lab/api/settings/@jupyterlab/apputils-extension:notification",
                                     headers={"Authorization": f"token {token}"})
    # Overrides become the settings' defaults.
    schema = json.loads(urllib.request.urlopen(request, timeout=30).read())["schema"]["properties"]
    assert schema["fetchNews"]["default"] == "false" and schema["checkForUpdates"]["default"] is False
    with sync_playwright() as p:
        browser = launch(p)
        page = _open(browser, base, token, "as_committed.ipynb")
        assert not _dirty(page, "as_committed.ipynb")
        assert page.locator(".jp-Notification-Toast, .Toastify__toast").filter(has_text="news").count() == 0
        page.close()
        # The test has teeth: the metadata the notebooks had before is marked modified on open.
        page = _open(browser, base, token, "old_metadata.ipynb")
        page.wait_for_selector(".lm-TabBar-tab.jp-mod-dirty:has-text('old_metadata.ipynb')")
        browser.close()
    log = (root / "lab.log").read_text()
    assert "DeprecationWarning" not in log and "deprecated" not in log.lower(), log[-3000:]

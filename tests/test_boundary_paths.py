"""Files the workbench writes for a person: never through a link, never over a file unless asked,
private (0600), in a folder when a folder is named, inside the workspace by default (never the
current directory), never while a pipeline holds the database, and never in git or an image."""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess

import pytest

import small_store
from churn_workbench import cli, pseudonyms
from churn_workbench.errors import UsageError
from conftest import ROOT


@pytest.fixture
def elsewhere(tmp_path_factory):
    """A folder outside the workspace (an --out inside the workspace is refused)."""
    return tmp_path_factory.mktemp("handover")


@pytest.fixture
def store(workspace):
    s = small_store.settings(workspace.root)
    small_store.build(s)
    return s


def _export(*extra):
    return cli.main(["subject", "export", "--customer", "C7302", *extra])


def test_an_export_never_writes_through_a_link(store, elsewhere, capsys):
    victim = elsewhere / "victim.txt"
    victim.write_text("precious")
    os.symlink(victim, elsewhere / "access.json")
    assert _export("--out", str(elsewhere / "access.json")) == 2
    assert "exists already" in capsys.readouterr().err
    assert victim.read_text() == "precious"
    # Even when told to replace: the link is replaced as a name, the file it pointed to is left alone.
    assert _export("--out", str(elsewhere / "access.json"), "--force") == 0
    assert victim.read_text() == "precious"
    assert not (elsewhere / "access.json").is_symlink()
    assert json.loads((elsewhere / "access.json").read_text())["customer_id"] == "C7302"


def test_an_existing_file_is_kept_unless_forced(store, elsewhere, capsys):
    (elsewhere / "access.md").write_text("an earlier report")
    assert _export("--out", str(elsewhere / "access.json")) == 2
    assert not (elsewhere / "access.json").exists(), "refused before writing either file"
    assert (elsewhere / "access.md").read_text() == "an earlier report"
    assert _export("--out", str(elsewhere / "access.json"), "--force") == 0
    assert "C7302" in (elsewhere / "access.md").read_text()


def test_a_folder_means_inside_it_and_files_are_private(store, elsewhere, capsys):
    folder = elsewhere / "requests"
    folder.mkdir()
    assert _export("--out", str(folder)) == 0
    written = sorted(p.name for p in folder.iterdir())
    assert len(written) == 2 and written[0].endswith(".json") and written[1].endswith(".md")
    assert not (elsewhere / "requests.json").exists()
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_without_out_the_export_stays_in_the_workspace_not_the_current_directory(store, tmp_path, monkeypatch, capsys):
    cwd = tmp_path / "somewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert _export() == 0
    assert list(cwd.iterdir()) == []
    exports = store.data_dir / "exports"
    assert len(list(exports.glob("subject-export-*.json"))) == 1
    assert stat.S_IMODE(exports.stat().st_mode) == 0o700
    assert str(exports) in capsys.readouterr().out


def test_export_refuses_while_a_pipeline_holds_the_database(store, elsewhere, capsys):
    import fcntl
    lock_file = store.db_path.with_name(store.db_path.name + ".lock")
    with open(lock_file, "a+") as running_pipeline:  # another process's hold, as flock sees it
        fcntl.flock(running_pipeline, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert _export("--out", str(elsewhere / "a.json")) == 2
    assert "this database is in use by" in capsys.readouterr().err
    assert not (elsewhere / "a.json").exists()


def test_inside_refuses_every_way_out(tmp_path):
    from churn_workbench.boundary import paths
    root = tmp_path / "audit" / "runs"
    root.mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", root / "link")
    assert paths.inside(root, "run-1") == (root / "run-1").resolve()
    for escape in ("../x", "..", "/etc", str(tmp_path / "outside"), "link", "link/deeper", "a/../../x"):
        with pytest.raises(UsageError, match="outside"):
            paths.inside(root, escape)


def test_write_private_creates_0600_and_refuses_links_and_existing_files(tmp_path):
    from churn_workbench.boundary import paths
    old = os.umask(0)
    try:
        path = paths.write_private(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(UsageError, match="exists already"):
        paths.write_private(path, "y")
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    with pytest.raises(UsageError, match="exists already"):
        paths.write_private(tmp_path / "dangling", "y")
    assert not (tmp_path / "nowhere").exists(), "a dangling link must not create its target"


@pytest.mark.parametrize("command", [["--synthetic", "20", "--stages", "ingest"], ["verify"],
                                     ["subject", "forget", "--customer", "C1", "--yes"]])
@pytest.mark.parametrize("kind", ["folder", "not a database"])
def test_a_db_path_that_is_not_a_database_is_one_line(workspace, tmp_path, capsys, command, kind):
    target = tmp_path / "target"
    if kind == "folder":
        target.mkdir()
    else:
        target.write_text("# notes, not a database\n" * 10)
    before = None if kind == "folder" else target.read_bytes()
    assert cli.main([*command, "--db", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(target) in err and "Traceback" not in err
    assert before is None or target.read_bytes() == before


# --------------------------------------------------------------------------------------------
# what the product writes never reaches git or a container image
# --------------------------------------------------------------------------------------------

def _written_by_the_product(root) -> list[str]:
    """Every file the subject commands and the key store write for a workspace at `root`/data,
    plus an outcome file and the compaction copy, as paths relative to the project root."""
    s = small_store.settings(root)
    small_store.build(s)
    pseudonyms.SubjectRefs(s.subject_key_file, None, s.subject_keystore).refs(["C7302"])
    assert cli.main(["subject", "export", "--customer", "C7303", "--db", str(s.db_path)]) == 0
    (s.data_dir / "outcomes").mkdir()
    (s.data_dir / "outcomes" / "trial-1.csv").write_text("customer_id,churned,observed_at\n")
    files = [p.relative_to(root) for p in root.rglob("*") if p.is_file()]
    files += [s.data_dir.relative_to(root) / f".{s.db_path.name}.compact-123",
              s.data_dir.relative_to(root) / f".{s.subject_keystore.name}.123.tmp"]
    # The same files for a database in a folder of its own inside data/ (--db data/scratch/x.duckdb),
    # and for one anywhere else in the checkout (--db mydb/x.duckdb).
    return sorted({str(f) for f in files} | {str(f).replace("data/", "data/scratch/", 1) for f in files}
                  | {str(f).replace("data/", "mydb/", 1) for f in files}
                  | {f"mydb/{name}/x" for name in ("snapshot", ".progress", "models", "audit", "generated")}
                  | {"subject-export-20250101T000000Z.json", "subject-export-20250101T000000Z.md"})


def _dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matching a folder excludes its content."""
    def match(pattern: str) -> bool:
        regex = re.escape(pattern.rstrip("/")).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        parts = path.split("/")
        return any(re.fullmatch(regex, "/".join(parts[:i])) for i in range(1, len(parts) + 1))
    ignored = False
    for line in patterns:
        line = line.strip()
        if line and not line.startswith("#"):
            negate = line.startswith("!")
            if match(line.lstrip("!")):
                ignored = not negate
    return ignored


def test_keys_exports_and_outcome_files_are_ignored_by_git_and_docker(workspace, capsys):
    written = _written_by_the_product(workspace.root)
    assert any(".subject_keys.parquet" in w for w in written) and any("exports/" in w for w in written)
    docker = (ROOT / ".dockerignore").read_text().splitlines()
    assert [w for w in written if not _dockerignored(w, docker)] == []
    assert not _dockerignored("lib/churn_workbench/cli.py", docker)  # the matcher is not vacuous
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: .gitignore cannot be asked")
    source = "lib/churn_workbench/cli.py"
    result = subprocess.run(["git", "check-ignore", "--no-index", "--verbose", "--non-matching", *written, source],
                            cwd=ROOT, capture_output=True, text=True)
    unignored = [line.split("\t")[-1] for line in result.stdout.splitlines() if line.startswith("::")]
    assert unignored == [source]

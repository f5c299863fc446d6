"""Every setting declares its domain (boundary.domains) beside its definition, and the settings
are checked against them at load, before the first stage and before anything is written: a value
outside its domain is refused in one line `NAME=value: expected ...`, exit 2 on the command line."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from churn_workbench import cli, config
from churn_workbench.boundary.domains import Domain
from churn_workbench.errors import UsageError

README = Path(__file__).resolve().parents[1] / "README.md"
STRONG = "k" * 24  # a secret long enough for the strength rule


@pytest.fixture(autouse=True)
def _no_settings(monkeypatch):
    for name in [f.metadata["env"] for f in config.knobs()] + list(config.OTHER_VARIABLES):
        monkeypatch.delenv(name, raising=False)


def _refusal(monkeypatch, **env) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(UsageError) as refused:
        config.load_settings()
    message = str(refused.value)
    assert "\n" not in message
    return message


def test_every_setting_declares_a_domain():
    """A field of Settings without one fails here: a new setting cannot be added unchecked."""
    missing = [f.name for f in dataclasses.fields(config.Settings) if not isinstance(f.metadata.get("domain"), Domain)]
    assert missing == []
    assert all(isinstance(domain, Domain) and meaning for domain, meaning in config.OTHER_VARIABLES.values())
    assert all(f.metadata["domain"].expected for f in dataclasses.fields(config.Settings))


def test_every_variable_the_readme_documents_has_a_domain():
    documented = set(re.findall(r"`((?:WORKBENCH_[A-Z0-9_]+)|(?:[A-Z]+_(?:BASE_URL|API_KEY)))`", README.read_text()))
    declared = {f.metadata["env"] for f in config.knobs()} | set(config.OTHER_VARIABLES)
    assert documented - declared == set()
    assert {"OPENAI_BASE_URL", "GROQ_BASE_URL", "OPENAI_API_KEY", "GROQ_API_KEY"} <= declared


def test_the_readme_states_each_domain():
    rows = {line.split("|")[1].strip(" `"): line for line in README.read_text().splitlines() if line.startswith("| `")}
    for f in config.knobs():
        assert f.metadata["domain"].expected in rows.get(f.metadata["env"], ""), f.name


# The inputs an outside tester found accepted, each with a full run.
@pytest.mark.parametrize("name,value,says", [
    ("WORKBENCH_LLM_RESPONSE_FORMAT", "xml", "expected one of auto, json_schema, json_object, text"),
    ("WORKBENCH_EGRESS_SPECIAL_ALLOWED", "health,", "an empty special category; expected"),
    ("WORKBENCH_DASK_SCHEDULER", "not a url", "e.g. tcp://127.0.0.1:8786"),
    ("OPENAI_BASE_URL", "file:///etc/passwd", "expected an address starting http:// or https://"),
    ("GROQ_BASE_URL", "api.groq.com", "expected an address starting http:// or https://"),
])
def test_a_value_outside_its_domain_is_refused_naming_the_variable(monkeypatch, name, value, says):
    message = _refusal(monkeypatch, **{name: value})
    assert message.startswith(f"{name}={value}: ") and says in message


@pytest.mark.parametrize("name,value", [
    ("WORKBENCH_LLM_REASONING_EFFORT", "extreme"),
    ("WORKBENCH_LLM_REASONING_EFFORT", "LOW"),           # sent to the endpoint as written
    ("WORKBENCH_LLM_PROGRESS", "flase"),  # read as "yes" before: anything but the words for no was
    ("WORKBENCH_EGRESS_SPECIAL_ALLOWED", "health,,religion"),
    ("WORKBENCH_EGRESS_SPECIAL_ALLOWED", "health,Health"),
    ("WORKBENCH_EGRESS_SPECIAL_ALLOWED", "health,wealth"),
    ("WORKBENCH_DASK_SCHEDULER", "127.0.0.1:8786"),      # no scheme
    ("WORKBENCH_DASK_SCHEDULER", "tcp://127.0.0.1"),     # no port
    ("WORKBENCH_DASK_SCHEDULER", "inproc://127.0.0.1/1/1"),  # reaches no other process
    ("WORKBENCH_DASK_SCHEDULER", "file:///tmp/scheduler.json"),
    ("WORKBENCH_DASK_SCHEDULER", "tcp://127.0.0.1:8786/status"),
    ("OPENAI_BASE_URL", "http://"),                      # no host
    ("OPENAI_BASE_URL", "http://localhost:99999/v1"),    # no such port
    ("OPENAI_BASE_URL", "localhost:8000/v1"),
    ("WORKBENCH_OPENAI_MODEL", "gpt oss"),
    ("WORKBENCH_VALUE_COLUMN", "monthly_charges,tenure"),
])
def test_more_values_outside_their_domain(monkeypatch, name, value):
    assert _refusal(monkeypatch, **{name: value}).startswith(f"{name}={value}: ")


@pytest.mark.parametrize("name,value", [
    ("WORKBENCH_LLM_RESPONSE_FORMAT", "JSON_OBJECT"),
    ("WORKBENCH_LLM_REASONING_EFFORT", "medium"),
    ("WORKBENCH_LLM_REASONING_EFFORT", "none"),
    ("WORKBENCH_LLM_PROGRESS", "off"),
    ("WORKBENCH_EGRESS_SPECIAL_ALLOWED", "health, religion"),
    ("WORKBENCH_DASK_SCHEDULER", "tcp://127.0.0.1:8786"),
    ("WORKBENCH_DASK_SCHEDULER", "tls://scheduler.example:8786"),
    ("WORKBENCH_DASK_SCHEDULER", "ws://[::1]:8786"),
    ("WORKBENCH_DASK_SCHEDULER", ""),  # empty: a local cluster per run
    ("OPENAI_BASE_URL", "http://localhost:11434/v1"),
    ("GROQ_BASE_URL", "https://api.groq.com"),
    ("WORKBENCH_OPENAI_MODEL", "qwen2.5:7b-instruct"),
])
def test_values_inside_their_domain_are_read(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    config.load_settings()


def test_flag_words_are_read_as_written(monkeypatch):
    monkeypatch.setenv("WORKBENCH_LLM_PROGRESS", "no")
    monkeypatch.setenv("WORKBENCH_LLM_ADAPT", "YES")
    settings = config.load_settings()
    assert settings.llm_progress is False and settings.llm_adapt is True


def test_an_override_meets_the_same_domain():
    with pytest.raises(UsageError, match="^WORKBENCH_LLM_RESPONSE_FORMAT=xml: expected one of"):
        config.load_settings(llm_response_format="xml")


def test_an_api_key_with_a_space_is_refused_without_showing_it(monkeypatch):
    message = _refusal(monkeypatch, GROQ_API_KEY="gsk-secret-part other")
    assert message.startswith("GROQ_API_KEY=(not shown): ") and "secret-part" not in message


def test_a_short_dashboard_token_is_refused_with_the_settings(monkeypatch):
    """Read only by the dashboard, it is checked with every other variable all the same."""
    assert _refusal(monkeypatch, WORKBENCH_DASHBOARD_TOKEN="x").startswith("WORKBENCH_DASHBOARD_TOKEN is 1 characters long")


def test_the_subject_key_and_its_file_together_are_refused_naming_both(monkeypatch, tmp_path):
    message = _refusal(monkeypatch, WORKBENCH_SUBJECT_KEY=STRONG, WORKBENCH_SUBJECT_KEY_FILE=str(tmp_path / "key"))
    assert "WORKBENCH_SUBJECT_KEY and WORKBENCH_SUBJECT_KEY_FILE are both set" in message
    assert STRONG not in message
    with pytest.raises(UsageError, match="are both set"):  # one given as an override counts too
        config.load_settings(subject_key_file=str(tmp_path / "key"))


def test_either_subject_key_source_alone_is_read(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBENCH_SUBJECT_KEY", STRONG)
    assert config.load_settings(db_path=str(tmp_path / "wb.duckdb")).subject_key == STRONG
    monkeypatch.delenv("WORKBENCH_SUBJECT_KEY")
    monkeypatch.setenv("WORKBENCH_SUBJECT_KEY_FILE", str(tmp_path / "key"))
    assert config.load_settings().subject_key_file == (tmp_path / "key").resolve()


@pytest.mark.parametrize("env,argv", [
    ({"WORKBENCH_LLM_RESPONSE_FORMAT": "xml"}, []),
    ({"WORKBENCH_EGRESS_SPECIAL_ALLOWED": "health,"}, []),
    ({"WORKBENCH_DASK_SCHEDULER": "not a url"}, []),
    ({"OPENAI_BASE_URL": "file:///etc/passwd", "OPENAI_API_KEY": "sk-local", "WORKBENCH_OPENAI_MODEL": "m"},
     ["--llm", "openai"]),
    ({"WORKBENCH_SUBJECT_KEY": STRONG, "WORKBENCH_SUBJECT_KEY_FILE": "KEYFILE"}, []),
], ids=["response format", "special categories", "scheduler", "openai base url", "two subject keys"])
def test_the_command_line_refuses_before_anything_is_made(tmp_path, capsys, monkeypatch, env, argv):
    for name, value in env.items():
        monkeypatch.setenv(name, value.replace("KEYFILE", str(tmp_path / "data" / "key")))
    code = cli.main(["--synthetic", "50", "--db", str(tmp_path / "data" / "wb.duckdb"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert next(iter(env)) in err
    assert not (tmp_path / "data").exists()

"""WORKBENCH_* variables are checked in the one settings loader before anything reads them: a
name the workbench does not read (a typo: what the user meant would never happen) is refused
with the nearest known name, and a value holding a control character is refused naming its
variable (config.check_variables, called by load_settings and the dashboard)."""
from __future__ import annotations

import pytest

from churn_workbench import config
from churn_workbench.errors import UsageError


@pytest.mark.parametrize("name", config.variables())
def test_a_misspelt_name_of_every_known_setting_is_refused_with_that_setting_named(monkeypatch, name):
    typo = name[:-2] + name[-1] if len(name) > 12 else name + "S"  # one letter dropped
    if typo in config.variables():
        typo = name + "X"
    monkeypatch.setenv(typo, "1")
    with pytest.raises(UsageError) as exc:
        config.load_settings()
    line = str(exc.value)
    assert "\n" not in line and typo in line and "not a setting" in line
    assert f"did you mean {name}?" in line


def test_the_retention_typo_of_the_report_names_a_retention_setting(monkeypatch):
    monkeypatch.setenv("WORKBENCH_RETENTON_DAYS", "30")
    with pytest.raises(UsageError, match=r"WORKBENCH_RETENTON_DAYS is not a setting .*did you mean WORKBENCH_RETENTION_"):
        config.load_settings()


def test_a_name_far_from_every_setting_points_at_the_settings_command(monkeypatch):
    monkeypatch.setenv("WORKBENCH_ZZZZZZZZZZZZZZZZZZZZZZZZZZ", "1")
    with pytest.raises(UsageError, match="run_pipeline.py settings"):
        config.load_settings()


@pytest.mark.parametrize("char", ["\n", "\r", "\t", "\x00", "\x1b", "\u2028"], ids=repr)
@pytest.mark.parametrize("name", config.variables())
def test_a_control_character_in_any_setting_is_refused_naming_it(monkeypatch, name, char):
    monkeypatch.setenv(name, f"a{char}b") if char != "\x00" else monkeypatch.setattr(
        config.os, "environ", {**config.os.environ, name: "a\x00b"})
    with pytest.raises(UsageError) as exc:
        config.check_variables()
    assert str(exc.value).startswith(f"{name}: its value holds a control character")


def test_the_known_settings_still_load(monkeypatch):
    monkeypatch.setenv("WORKBENCH_ANALYSIS_MODEL", "llama-3.1-8b-instant")
    assert config.load_settings().analysis_model == "llama-3.1-8b-instant"

"""An option the chosen mode does not read is refused in one line naming it (exit 2), never
silently ignored: one table (cli_modes) says where each option of run_pipeline.py has an effect,
checked once after parsing, by the command line and the Python API alike."""
from __future__ import annotations

import argparse

import pytest

from churn_workbench import api, cli, cli_modes
from churn_workbench.errors import UsageError
from churn_workbench.vocab import STAGES

PARSER = cli._parser()
FLAGS = cli.option_flags(PARSER)
TABLE = cli.option_table()
ACTIONS = {a.dest: a for a in PARSER._actions if a.option_strings}
MODES = {"verify": ["verify"], "outcomes": ["--outcomes", "o.csv"], "simulate": ["--simulate-outcomes", "r1"],
         "resume": ["--resume", "r1"], "run": []}
# The options that choose a mode themselves: given in another mode they change it (and the
# option of the mode left behind is the one refused).
MODE_OPTIONS = {"outcomes", "outcomes_for", "simulate_outcomes", "resume"}


def _words(dest: str) -> list[str]:
    """The option with a value its parser takes."""
    action = ACTIONS[dest]
    if action.nargs == 0:
        return [FLAGS[dest]]
    if action.choices:
        return [FLAGS[dest], sorted(action.choices)[0]]
    value = {"stages": "ingest", "retrain": "always", "action_segments": "High"}.get(dest)
    if value is None:
        value = "0.5" if isinstance(action.default, float) or dest == "control_share" else \
            "7" if action.type is not None and dest not in ("allow_columns",) else "r1"
    return [FLAGS[dest], value]


def _check(argv: list[str]) -> None:
    args = PARSER.parse_args(argv)
    cli._refuse_options_without_effect(PARSER, args)


def test_every_option_is_classified():
    """A new option must say where it has an effect (or that every mode reads it)."""
    assert set(FLAGS) == set(TABLE) | (cli_modes.EVERY_MODE - {"command"})
    assert not set(TABLE) & cli_modes.EVERY_MODE


def test_the_stage_parameters_are_read_by_the_stages_that_declare_them():
    assert TABLE["max_train_rows"].reads == {"train"} and TABLE["control_share"].reads == {"act"}
    assert TABLE["llm"].reads == {"feedback", "act"} and TABLE["customers"].reads == {"ingest"}
    assert TABLE["seed"].reads == {cli_modes.SYNTHETIC, "train", "act"}


CASES = [(dest, mode) for dest, effect in sorted(TABLE.items()) for mode in MODES
         if mode not in effect.modes and not (dest in MODE_OPTIONS and mode == "run")]  # given, it is not a run


@pytest.mark.parametrize("dest,mode", CASES, ids=[f"{FLAGS[d]}-in-{m}" for d, m in CASES])
def test_an_option_in_a_mode_that_does_not_read_it_is_refused(dest, mode):
    with pytest.raises(UsageError) as refused:
        _check([*MODES[mode], *_words(dest)])
    line = str(refused.value)
    assert "\n" not in line
    if dest not in MODE_OPTIONS:
        assert line.startswith(FLAGS[dest] + " ")


STAGE_CASES = [(dest, stage) for dest, effect in sorted(TABLE.items()) if effect.reads and "run" in effect.modes
               for stage in STAGES if stage not in effect.reads and not (stage == "ingest" and cli_modes.SYNTHETIC in effect.reads)]


@pytest.mark.parametrize("dest,stage", STAGE_CASES, ids=[f"{FLAGS[d]}-with-{s}" for d, s in STAGE_CASES])
def test_a_stage_option_without_its_stage_is_refused(dest, stage):
    with pytest.raises(UsageError, match=f"^{FLAGS[dest]} has no effect with --stages {stage}"):
        _check(["--stages", stage, *_words(dest)])


ACCEPTED = [(dest, mode) for dest, effect in sorted(TABLE.items()) for mode in sorted(effect.modes)
            if mode in ("run", "verify") and dest not in MODE_OPTIONS]


@pytest.mark.parametrize("dest,mode", ACCEPTED, ids=[f"{FLAGS[d]}-in-{m}" for d, m in ACCEPTED])
def test_an_option_where_it_has_an_effect_passes(dest, mode):
    _check([*MODES[mode], *_words(dest)])


def test_the_seed_counts_for_synthetic_customers_but_not_for_a_customers_file():
    _check(["--stages", "ingest", "--seed", "3"])
    with pytest.raises(UsageError, match="^--seed has no effect with --stages ingest and --customers"):
        _check(["--stages", "ingest", "--customers", "c.csv", "--seed", "3"])
    _check(["--simulate-outcomes", "r1", "--seed", "3"])


def test_a_default_typed_out_counts_as_given():
    with pytest.raises(UsageError, match="^--seed has no effect with --outcomes"):
        _check(["--outcomes", "o.csv", "--seed", "42"])


def test_the_outcomes_import_with_run_options_is_refused_before_anything_is_made(tmp_path, capsys):
    db = tmp_path / "data" / "wb.duckdb"
    code = cli.main(["--outcomes", str(tmp_path / "o.csv"), "--outcomes-for", "base-1", "--db", str(db),
                     "--synthetic", "999", "--control-share", "0.4", "--seed", "11"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--synthetic has no effect with --outcomes: drop it" in err
    assert not (tmp_path / "data").exists()


def test_the_python_api_applies_the_same_table(tmp_path):
    with pytest.raises(UsageError, match="^--max-train-rows has no effect with --stages ingest"):
        api.run(stages="ingest", max_train_rows=10, db=tmp_path / "wb.duckdb")
    assert list(tmp_path.iterdir()) == []


def test_the_table_names_a_known_mode_only():
    assert {m for e in TABLE.values() for m in e.modes} <= set(MODES)
    assert isinstance(PARSER.parse_args([]), argparse.Namespace)


@pytest.mark.parametrize("backend", [[], ["--llm", "local"]], ids=["default backend", "--llm local"])
def test_an_llm_profile_for_the_offline_analyzer_is_refused_before_anything_is_made(tmp_path, capsys, monkeypatch, backend):
    """A profile tunes requests to an endpoint; the offline analyzer sends none."""
    monkeypatch.delenv("WORKBENCH_LLM", raising=False)
    db = tmp_path / "data" / "wb.duckdb"
    code = cli.main(["--synthetic", "50", "--llm-profile", "local-cpu", "--db", str(db), *backend])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "--llm-profile local-cpu has no effect with the offline analyzer" in err
    assert not (tmp_path / "data").exists()


def test_an_llm_profile_goes_with_a_backend_that_sends_requests_and_a_standing_setting_stays_quiet():
    from types import SimpleNamespace
    for backend in ("openai", "groq"):
        cli._check_profile_backend(SimpleNamespace(llm_profile="local-cpu"), SimpleNamespace(llm_provider=backend))
    cli._check_profile_backend(SimpleNamespace(llm_profile=None), SimpleNamespace(llm_provider="local"))
    with pytest.raises(UsageError, match="^--llm-profile local-cpu has no effect"):
        cli._check_profile_backend(SimpleNamespace(llm_profile="local-cpu"), SimpleNamespace(llm_provider="local"))

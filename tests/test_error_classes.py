"""One class per error, all under WorkbenchError in errors.py, so the runner's handling (one line,
the exit code of its kind) covers every failure the workbench raises on purpose."""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pytest

from churn_workbench import errors
from churn_workbench import model as M

LIB = Path(__file__).resolve().parents[1] / "lib" / "churn_workbench"


def _exception_classes() -> dict[str, list[str]]:
    """Class name -> the modules defining it, for every class in lib/ whose bases look like an error."""
    found: dict[str, list[str]] = {}
    for path in LIB.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = [ast.unparse(b) for b in node.bases]
            if node.name.endswith("Error") or any(
                    b.endswith(("Error", "Exception")) for b in bases):
                found.setdefault(node.name, []).append(str(path.relative_to(LIB)))
    return found


def test_every_error_class_is_defined_once_in_errors_py():
    classes = _exception_classes()
    # Not errors: the CLI's private argparse signal never leaves cli.py, and a stage interrupted by
    # a signal is a BaseException on purpose (like KeyboardInterrupt, no `except Exception` eats it).
    signals = {"_ArgumentError", "StageInterrupted"}
    elsewhere = {name: where for name, where in classes.items() if where != ["errors.py"] and name not in signals}
    assert elsewhere == {}
    for name in set(classes) - signals:
        assert issubclass(getattr(errors, name), errors.WorkbenchError), name


def test_the_names_modules_export_are_the_classes_of_errors_py():
    from churn_workbench.llm import base, engine, ratelimit

    assert M.TrainingError is errors.TrainingError and M.ModelIntegrityError is errors.ModelIntegrityError
    assert base.ProviderError is errors.ProviderError and base.CapabilityError is errors.CapabilityError
    assert engine.LLMUnavailable is errors.LLMUnavailable and ratelimit.QuotaExhausted is errors.QuotaExhausted


def test_a_bad_model_artefact_is_a_workbench_error_with_exit_code_1(tmp_path):
    path = tmp_path / "model.skops"
    path.write_bytes(b"not a model")
    with pytest.raises(errors.WorkbenchError) as excinfo:
        M.load_model(path, hashlib.sha256(b"something else").hexdigest())
    assert type(excinfo.value) is errors.ModelIntegrityError and excinfo.value.exit_code == 1
    assert not isinstance(excinfo.value, RuntimeError)


def test_too_little_data_to_train_is_a_bad_input_error():
    assert issubclass(M.TrainingError, errors.InputError) and M.TrainingError.exit_code == 2

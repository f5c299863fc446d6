"""A name set twice in .env is refused naming both lines, as an option given twice is: the
first value would be silently overridden by the last."""
from __future__ import annotations

import pytest

from churn_workbench import config
from churn_workbench.errors import UsageError


def test_a_name_set_twice_is_refused_naming_both_lines(tmp_path, monkeypatch):
    env = tmp_path / ".env"
    env.write_text("# settings\nWORKBENCH_CONTROL_SHARE=0.1\nWORKBENCH_SEED_X=1\n\nexport WORKBENCH_CONTROL_SHARE=0.3\n")
    with pytest.raises(UsageError, match=r"WORKBENCH_CONTROL_SHARE is set twice \(lines 2 and 5\): keep one$"):
        config.refuse_twice_set(env)
    monkeypatch.setattr(config, "PROJECT_ROOT", tmp_path)
    monkeypatch.delenv("WORKBENCH_CONTROL_SHARE", raising=False)
    with pytest.raises(UsageError, match="is set twice"):
        config.load_settings()


@pytest.mark.parametrize("text", ["", "A=1\nB=2\n", "\ufeffA=1\n# A=2\n", "A=1\nA_B=2\n"])
def test_each_name_once_is_fine(tmp_path, text):
    env = tmp_path / ".env"
    env.write_text(text, encoding="utf-8")
    config.refuse_twice_set(env)


def test_no_env_file_is_fine(tmp_path):
    config.refuse_twice_set(tmp_path / ".env")

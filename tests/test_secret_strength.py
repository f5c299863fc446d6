"""A secret the workbench protects customer data with -- the dashboard's token, the subject-ref
key -- is refused when it is too short to keep anyone out, by the launcher, the Voilà server
started by hand and the settings loader alike, in one line naming its variable."""
from __future__ import annotations

import pytest
from traitlets import Unicode
from traitlets.config import Configurable

from churn_workbench.config import MIN_SECRET_CHARS, load_settings
from churn_workbench.dashboard import access, serve
from churn_workbench.errors import UsageError

SHORT = ["x", "1234", "a" * (MIN_SECRET_CHARS - 1)]


class _Server(Configurable):
    ip = Unicode("0.0.0.0")


@pytest.mark.parametrize("token", SHORT)
def test_a_short_dashboard_token_is_refused_by_the_launcher(monkeypatch, token):
    monkeypatch.setenv(access.TOKEN_VARIABLE, token)
    with pytest.raises(UsageError, match=f"^{access.TOKEN_VARIABLE} is {len(token)} characters long"):
        serve.prepare("0.0.0.0", 18999)


@pytest.mark.parametrize("token", SHORT)
def test_a_short_dashboard_token_stops_the_server_started_by_hand(monkeypatch, token):
    monkeypatch.setenv(access.TOKEN_VARIABLE, token)
    with pytest.raises(SystemExit) as refused:
        access.DashboardIdentityProvider(parent=_Server(), token="")
    assert refused.value.code == 2


@pytest.mark.parametrize("key", SHORT)
def test_a_short_subject_key_is_refused_when_settings_are_read(monkeypatch, key):
    monkeypatch.setenv("WORKBENCH_SUBJECT_KEY", key)
    with pytest.raises(UsageError, match=f"^WORKBENCH_SUBJECT_KEY is {len(key)} characters long"):
        load_settings()


def test_secrets_of_enough_characters_are_taken(monkeypatch):
    good, key = "k" * MIN_SECRET_CHARS, "s" * MIN_SECRET_CHARS   # two secrets, two values
    monkeypatch.setenv(access.TOKEN_VARIABLE, good)
    monkeypatch.setenv("WORKBENCH_SUBJECT_KEY", key)
    assert access.configured_token() == good and load_settings().subject_key == key
    assert access.DashboardIdentityProvider(parent=_Server(), token="").token == good

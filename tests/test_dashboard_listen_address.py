"""`dashboard --ip` is an IP address or a host name that resolves; anything else is refused in
one line naming --ip, before any port is tried (a typo used to surface as a port that "is not
available", blaming a running dashboard)."""
from __future__ import annotations

import pytest

from churn_workbench.dashboard import serve
from churn_workbench.errors import UsageError


@pytest.mark.parametrize("ip", ["127.0.0.1", "0.0.0.0", "::1", "::", "fe80::1%lo", "localhost", "127.1"])
def test_addresses_and_resolving_names_pass(ip):
    serve.check_ip(ip)


@pytest.mark.parametrize("ip", ["127.0.0.1 ", " ::1", "bad host", "a_b.example", "http://127.0.0.1", "127.0.0.1:8866",
                                "host..name", "\u0661\u0662\u0667.0.0.1"], ids=repr)
def test_what_is_not_an_address_is_refused_naming_the_option(ip):
    with pytest.raises(UsageError, match=r"^--ip .*not an IP address or host name"):
        serve.check_ip(ip)


def test_a_name_that_does_not_resolve_is_refused_saying_so():
    with pytest.raises(UsageError, match="^--ip nosuch-host-for-sure: the host name does not resolve"):
        serve.check_ip("nosuch-host-for-sure")


def test_the_launcher_refuses_before_trying_the_port(capsys, monkeypatch):
    monkeypatch.setattr(serve, "check_port", lambda *a: pytest.fail("the port was tried"))
    assert serve.main(["--ip", "127.0.0.1 "]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--ip '127.0.0.1 '" in err

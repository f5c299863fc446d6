"""Who may open the dashboard: nobody beyond this machine without a token or password.

The dashboard shows customer ids, churn probabilities, consent decisions and the audit log. On
127.0.0.1 only this machine's users can reach it; on any other address everyone on the network
could. So a non-loopback bind needs authentication, and Voilà refuses to start without it.

The rule is enforced inside the Voilà server, not only by `churn-workbench dashboard`: voila.json
(read from the project root, where Voilà is started) names `DashboardIdentityProvider` as the
server's identity provider, so `voila notebooks/dashboard.ipynb --Voila.ip=0.0.0.0` typed by hand
is refused too. The token comes from `WORKBENCH_DASHBOARD_TOKEN` (environment or `.env`), never
from the command line, where `ps` would show it; Voilà's own `--token` flag (a random token,
printed in the server's log) and a hashed password (`PasswordIdentityProvider.hashed_password`)
count as authentication as well.
"""
from __future__ import annotations

import ipaddress
import socket
import sys

from jupyter_server.auth.identity import PasswordIdentityProvider, User
from tornado.web import RequestHandler
from tornado.websocket import WebSocketHandler
from traitlets import default

from ..errors import UsageError

TOKEN_VARIABLE = "WORKBENCH_DASHBOARD_TOKEN"
# Exit code of a refused start: bad usage or configuration (errors.UsageError).
REFUSED_EXIT_CODE = 2


def is_loopback(host: str | None) -> bool:
    """True if `host` (an address or a name) reaches this machine only. An empty host, "*",
    0.0.0.0 and :: mean every interface, so they are not loopback; a name counts only if every
    address it resolves to is a loopback address."""
    host = (host or "").strip().strip("[]")
    if host in ("", "*"):
        return False
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (socket.gaierror, UnicodeError):
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def refusal(host: str) -> str:
    """The one-line reason a bind on `host` without authentication is refused, and what to do."""
    return (f"refusing to serve the dashboard on {host or 'every interface'} without authentication: anyone on "
            f"the network could read customer ids, churn probabilities, consent and the audit log. Set "
            f"{TOKEN_VARIABLE} (in the environment or .env), or keep it on 127.0.0.1 behind an authenticating "
            "proxy (docs/dashboard.md, \"Sharing the dashboard\")")


def configured_token() -> str | None:
    """WORKBENCH_DASHBOARD_TOKEN; a UsageError when it is too short to keep anyone out."""
    from ..config import check_secret_strength, secret  # the one reader of the environment and .env
    return check_secret_strength(TOKEN_VARIABLE, secret(TOKEN_VARIABLE))


class DashboardIdentityProvider(PasswordIdentityProvider):
    """Jupyter server's token/password login, with the token from WORKBENCH_DASHBOARD_TOKEN and
    a refusal to start on a non-loopback address without any authentication."""

    @default("allow_password_change")
    def _no_password_change(self):
        # Jupyter's login page would otherwise let whoever holds the token set a password, written
        # to a config file of the server's user: access is configured by the operator, not the page.
        return False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if not self.token:
            try:
                token = configured_token()
            except UsageError as exc:  # a start typed by hand is refused as the launcher refuses it
                self.log.critical(str(exc))
                sys.exit(REFUSED_EXIT_CODE)
            if token:
                self.token = token
        host = getattr(self.parent, "ip", "localhost")
        if not is_loopback(host) and not self.auth_enabled:
            self.log.critical(refusal(host))
            sys.exit(REFUSED_EXIT_CODE)

    async def _get_user(self, handler: RequestHandler) -> User | None:
        user = await super()._get_user(handler)
        if user is not None and handler.request.method == "GET" and not isinstance(handler, WebSocketHandler):
            # Every page load starts a kernel, and the page shuts it down when it is left with a
            # POST that must carry the `_xsrf` cookie. A browser that came in with the token in
            # its URL (the link --generate-token prints) never saw a form that sets that cookie:
            # its shutdowns were refused (403) and each reload left a kernel running until culled.
            handler.current_user = user  # what the server does next anyway; xsrf_token reads it
            handler.xsrf_token  # noqa: B018 -- reading it sets the cookie when the browser has none
        return user

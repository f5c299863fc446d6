"""`churn-workbench dashboard`: start Voilà on the dashboard the way `make dashboard` does.

Checks before anything starts: the port is free (a taken port is refused, never silently moved:
a dashboard that moved elsewhere looks like a dead one), and a non-loopback address has
authentication (access.py; the Voilà server enforces the same rule again when it starts). Then
this process becomes Voilà, started from the project root so it reads voila.json (offline
template, kernel culling, the identity provider).
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import re
import secrets
import socket
import sys

from ..boundary.numbers import INT_OPTION, check_range
from ..boundary.options import refuse_empty
from ..boundary.paths import database_file
from ..cli_parser import Parser, _ArgumentError
from ..errors import UsageError
from .access import TOKEN_VARIABLE, configured_token, is_loopback, refusal

DEFAULT_IP, DEFAULT_PORT = "127.0.0.1", 8866
NOTEBOOK = "notebooks/dashboard.ipynb"


def parser(prog: str = "churn-workbench dashboard") -> argparse.ArgumentParser:
    p = Parser(
        prog=prog, description="Serve the stakeholder dashboard (Voilà) on the published snapshot.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"""examples:
  {prog}                               http://127.0.0.1:8866, this machine only
  {prog} --port 8867 --db other/wb.duckdb
  {TOKEN_VARIABLE}=... {prog} --ip 0.0.0.0     shared on the network, login with the token

Beyond 127.0.0.1 the dashboard needs authentication: {TOKEN_VARIABLE} (environment or .env),
or --generate-token (a random one, printed once). Without it the start is refused (exit 2).
docs/dashboard.md, "Sharing the dashboard", also shows a set-up behind a reverse proxy.""")
    p.add_argument("--ip", default=DEFAULT_IP, help=f"address to listen on (default {DEFAULT_IP}: this machine only)")
    p.add_argument("--port", type=INT_OPTION, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--db", help="the workbench database whose snapshot is shown (default data/workbench.duckdb, "
                                "or WORKBENCH_DB)")
    p.add_argument("--generate-token", action="store_true",
                   help=f"if {TOKEN_VARIABLE} is not set, make a random token and print the URL with it")
    return p


def voila_command(ip: str, port: int) -> list[str]:
    return [sys.executable, "-m", "voila", NOTEBOOK, "--no-browser", f"--Voila.ip={ip}", f"--port={port}",
            "--Voila.port_retries=0"]


# A host name as RFC 1123 allows it: dot-separated labels of letters, digits and inner hyphens.
_HOST_NAME = re.compile(r"(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?")


def check_ip(ip: str) -> None:
    """`--ip` is an IP address (v4, or v6 with an optional %zone) or a host name that resolves,
    refused in one line naming the option otherwise: a blank or a typo would else surface as a
    port that "is not available", blaming the wrong thing."""
    try:
        ipaddress.ip_address(ip.split("%")[0] if ":" in ip else ip)
        return
    except ValueError:
        pass
    if not _HOST_NAME.fullmatch(ip):
        raise UsageError(f"--ip {ip!r}: not an IP address or host name; e.g. 127.0.0.1 (this machine only), "
                         "0.0.0.0 (every interface) or ::1")
    try:
        socket.getaddrinfo(ip, None)
    except OSError as exc:
        raise UsageError(f"--ip {ip}: the host name does not resolve ({exc.strerror or exc}); give an address "
                         "of this machine, e.g. 127.0.0.1") from None


def check_port(ip: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
        except OSError as exc:
            raise UsageError(f"port {port} on {ip} is not available ({exc.strerror}); a dashboard already running? "
                             f"Stop it, or use another: --port {port + 1}") from None


def dashboard_url(ip: str, port: int) -> str:
    """The URL to open for a dashboard listening on `ip`: a wildcard address shown as this
    machine's, an IPv6 address in brackets (RFC 3986: `http://[::1]:8866/`)."""
    host = "127.0.0.1" if ip in ("0.0.0.0", "", "::") else ip
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def prepare(ip: str, port: int, db: str | None = None, generate_token: bool = False) -> tuple[list[str], dict, str]:
    """The Voilà command line, its environment and the URL to open; raises UsageError when the
    start must be refused. The token travels in the environment, never on the command line."""
    from ..config import PROJECT_ROOT, check_variables, environment, load_env
    load_env()
    check_variables()  # the dashboard's kernel reads the same settings: refused here, in one line
    env = environment()
    token, generated = configured_token(), False
    if not is_loopback(ip) and not token:
        if not generate_token:
            raise UsageError(refusal(ip))
        token, generated = secrets.token_urlsafe(24), True
        env[TOKEN_VARIABLE] = token
    check_port(ip, port)
    if db:  # the same rule as every command's --db: a DuckDB file, nothing else
        path = database_file(db, "--db")
        if not path.exists():  # a dashboard only reads: a name not taken yet is a typo, not a new workspace
            raise UsageError(f"--db {db}: no workbench database there; name an existing one, or make it first "
                             f"(run_pipeline.py --db {db})")
        env["WORKBENCH_DB"] = str(path)
    # The offline "workbench" template, even where make setup did not link it into the venv.
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT / "share" / "jupyter"), env.get("JUPYTER_PATH")) if p)
    url = dashboard_url(ip, port)
    # A token made here is printed once (it exists nowhere else); a configured one never is.
    if generated:
        url += f"?token={token}"
    elif token:
        url += f"  (log in with the token in {TOKEN_VARIABLE})"
    return voila_command(ip, port), env, url


def main(argv: list[str], prog: str = "churn-workbench dashboard") -> int:
    from ..config import PROJECT_ROOT
    try:
        args = parser(prog).parse_args(argv)
        for flag, value in (("--ip", args.ip), ("--db", args.db)):
            refuse_empty(flag, value)
        check_range("--port", args.port, 1, 65535)
        check_ip(args.ip)
        command, env, url = prepare(args.ip, args.port, args.db, args.generate_token)
    except _ArgumentError as exc:
        print(f"{prog}: error: {exc} (see --help)", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"dashboard: {url}", flush=True)
    os.chdir(PROJECT_ROOT)  # voila.json is read from the working directory
    os.execvpe(command[0], command, env)
    return 0  # not reached

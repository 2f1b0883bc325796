"""Who may use the app: anyone on this machine; from elsewhere only with a login, unless the person
serving it says explicitly that it is open (--no-login)."""
from __future__ import annotations

import ipaddress
import os
import sys

from qa.errors import UserError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def login_for(host: str, no_login: bool) -> tuple[str, str] | None:
    """The login the app requires on `host`: none on loopback; on another address KAMERQA_USERNAME and
    KAMERQA_PASSWORD, or an explicit --no-login; otherwise a UserError that says how to set one."""
    if is_loopback(host):
        return None
    user, password = os.environ.get("KAMERQA_USERNAME"), os.environ.get("KAMERQA_PASSWORD")
    if user and password:
        return (user, password)
    if no_login:
        print(f"kamerqa serve: serving on {host} without a login (--no-login): anyone who can reach it can use it",
              file=sys.stderr)
        return None
    raise UserError(f"--host {host} is reachable from other machines and no login is set; set KAMERQA_USERNAME "
                    f"and KAMERQA_PASSWORD to require one, or pass --no-login to serve it open")

"""Who may use the dashboard: everyone on localhost, otherwise a password or an OIDC login.

`TASER_DASHBOARD_PASSWORD` turns on the password gate (compared in constant time); with
`TASER_DASHBOARD_AUTH=oidc` the gate is Streamlit's own `st.login` (configure the provider in
`.streamlit/secrets.toml`, section `[auth]`). `taser dashboard` refuses to bind beyond localhost
with neither.

Guessing is slowed down: after FREE_ATTEMPTS wrong passwords from one client address (or, where
Streamlit does not know it, one browser session), each further try must wait 1, 2, 4, ... seconds
after the last wrong one, at most MAX_DELAY_S; a try during the wait is refused without being
checked. The right password clears the count.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import os
import secrets
import threading
import time
from collections import OrderedDict
from typing import Callable

import streamlit as st

PASSWORD_ENV = "TASER_DASHBOARD_PASSWORD"
AUTH_ENV = "TASER_DASHBOARD_AUTH"
FREE_ATTEMPTS = 3  # typos happen; a guesser needs thousands
FIRST_DELAY_S = 1.0
MAX_DELAY_S = 60.0  # a locked-out colleague waits a minute at most; a guesser gets ~1,400 tries a day
MAX_CLIENTS = 10_000  # clients remembered (oldest forgotten first), so the table cannot grow without bound


class LoginThrottle:
    """Wrong-password counts per client key, and how long each must wait before its next try."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()  # key -> (count, time of last)
        self._lock = threading.Lock()  # one dashboard process serves every session from its threads

    def wait_s(self, keys: list[str]) -> float:
        """Seconds until these keys may try again (0: now)."""
        now = self._clock()
        with self._lock:
            waits = [last + delay_after(count) - now for count, last in
                     (self._failures[key] for key in keys if key in self._failures)]
        return max([0.0, *waits])

    def failed(self, keys: list[str]) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                count, _ = self._failures.pop(key, (0, now))
                self._failures[key] = (count + 1, now)
            while len(self._failures) > MAX_CLIENTS:
                self._failures.popitem(last=False)

    def succeeded(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


def delay_after(failures: int) -> float:
    """The wait after `failures` wrong passwords in a row: none for the first few, then doubling."""
    if failures < FREE_ATTEMPTS:
        return 0.0
    return min(FIRST_DELAY_S * 2.0 ** (failures - FREE_ATTEMPTS), MAX_DELAY_S)


THROTTLE = LoginThrottle()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_problem(host: str, env: dict[str, str] | None = None) -> str | None:
    """Why the dashboard must not start on `host`, or None when it may."""
    env = os.environ if env is None else env
    if is_loopback(host) or env.get(PASSWORD_ENV) or env.get(AUTH_ENV) == "oidc":
        return None
    return (f"--host {host} exposes the dashboard beyond this machine: set {PASSWORD_ENV} "
            f"(or {AUTH_ENV}=oidc with an [auth] provider in .streamlit/secrets.toml)")


def gate() -> bool:
    """True when the visitor may see the app; otherwise draws the login and returns False."""
    if os.environ.get(AUTH_ENV) == "oidc":
        if st.user.is_logged_in:
            return True
        st.title("TASER Studio")
        st.button("Log in", on_click=st.login, type="primary")
        return False
    expected = os.environ.get(PASSWORD_ENV)
    if not expected or st.session_state.get("access.granted"):
        return True
    st.title("TASER Studio")
    with st.form("access.login"):
        given = st.text_input("Password", type="password", key="access.password")
        submitted = st.form_submit_button("Enter", type="primary")
    if submitted:
        keys = _client_keys()
        wait = THROTTLE.wait_s(keys)
        if wait > 0:
            st.error(f"Too many wrong passwords: try again in {math.ceil(wait)} s.")
        elif hmac.compare_digest(given.encode(), expected.encode()):
            THROTTLE.succeeded(keys)
            st.session_state["access.granted"] = True
            st.rerun()
        else:
            THROTTLE.failed(keys)
            st.error("Wrong password.")
    return False


def _client_keys() -> list[str]:
    """The visitor's address as the WebSocket sees it (None on localhost), and its browser session."""
    session = st.session_state.setdefault("access.session", secrets.token_hex(8))
    address = st.context.ip_address
    return [f"session:{session}"] + ([f"address:{address}"] if address else [])

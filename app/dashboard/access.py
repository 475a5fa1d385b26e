"""Who may use the dashboard: everyone on localhost, otherwise a password or an OIDC login.

`TASER_DASHBOARD_PASSWORD` turns on the password gate (compared in constant time); with
`TASER_DASHBOARD_AUTH=oidc` the gate is Streamlit's own `st.login` (configure the provider in
`.streamlit/secrets.toml`, section `[auth]`). `taser dashboard` refuses to bind beyond localhost
with neither.
"""

from __future__ import annotations

import hmac
import ipaddress
import os

import streamlit as st

PASSWORD_ENV = "TASER_DASHBOARD_PASSWORD"
AUTH_ENV = "TASER_DASHBOARD_AUTH"


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
        if hmac.compare_digest(given.encode(), expected.encode()):
            st.session_state["access.granted"] = True
            st.rerun()
        st.error("Wrong password.")
    return False

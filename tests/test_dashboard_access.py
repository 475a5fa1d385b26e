"""Exposure: localhost by default; beyond it only behind a password (or an OIDC login)."""

import pytest

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

from app.cli import main  # noqa: E402
from app.dashboard.access import exposure_problem  # noqa: E402
from tests.dashboard_support import MAIN  # noqa: E402


def test_binding_beyond_localhost_needs_a_password(capsys, monkeypatch):
    monkeypatch.delenv("TASER_DASHBOARD_PASSWORD", raising=False)
    monkeypatch.delenv("TASER_DASHBOARD_AUTH", raising=False)
    assert main(["dashboard", "--host", "0.0.0.0", "--no-worker"]) == 2
    assert "TASER_DASHBOARD_PASSWORD" in capsys.readouterr().err
    assert exposure_problem("127.0.0.1", {}) is None and exposure_problem("::1", {}) is None
    assert exposure_problem("0.0.0.0", {"TASER_DASHBOARD_PASSWORD": "x"}) is None
    assert exposure_problem("10.1.2.3", {"TASER_DASHBOARD_AUTH": "oidc"}) is None
    assert exposure_problem("10.1.2.3", {}) is not None


def test_password_gate_hides_every_page_until_the_right_password(tmp_path, monkeypatch):
    monkeypatch.setenv("TASER_DATABASE_URL", f"sqlite:///{tmp_path / 'taser.db'}")
    monkeypatch.setenv("TASER_DASHBOARD_PASSWORD", "correct horse")
    at = AppTest.from_file(str(MAIN), default_timeout=60).run()
    assert not at.exception
    assert len(at.text_input) == 1 and not at.subheader  # only the login, none of Home
    at.text_input[0].input("wrong")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Wrong password."]
    assert len(at.text_input) == 1  # still locked
    at.text_input[0].input("correct horse")
    at.button[0].click().run()
    assert not at.exception and not at.text_input
    assert "Where the data lives" in [h.value for h in at.subheader]  # Home is shown

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


def test_artifact_paths_cannot_escape_the_root(tmp_path):
    from app.paths import UnsafePathError, resolve_under_root

    root = tmp_path / "artifacts"
    (root / "runs" / "1").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("no")
    assert resolve_under_root("runs/1/job.log", root) == root / "runs" / "1" / "job.log"
    for crafted in ("../secret.txt", "runs/../../secret.txt", str(tmp_path / "secret.txt")):
        with pytest.raises(UnsafePathError):
            resolve_under_root(crafted, root)
    (root / "runs" / "1" / "link").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(UnsafePathError):
        resolve_under_root("runs/1/link", root)


def test_wrong_passwords_slow_down_doubling_up_to_a_cap():
    from app.dashboard.access import FREE_ATTEMPTS, MAX_DELAY_S, LoginThrottle

    now = [1000.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    keys, other = ["session:a", "address:10.0.0.1"], ["session:b"]
    for _ in range(FREE_ATTEMPTS - 1):
        throttle.failed(keys)
        assert throttle.wait_s(keys) == 0  # typos are free
    waits = []
    for _ in range(10):
        throttle.failed(keys)
        waits.append(throttle.wait_s(keys))
        now[0] += waits[-1]  # the client waits out each delay, then tries again
    assert waits[:4] == [1.0, 2.0, 4.0, 8.0] and max(waits) == MAX_DELAY_S == waits[-1]
    assert throttle.wait_s(other) == 0  # another session from elsewhere is not held up
    assert throttle.wait_s(["session:new", "address:10.0.0.1"]) == 0  # its last delay is over
    throttle.failed(["session:new", "address:10.0.0.1"])
    assert throttle.wait_s(["session:new", "address:10.0.0.1"]) == MAX_DELAY_S  # a new session does not reset it
    throttle.succeeded(keys)
    assert throttle.wait_s(keys) == 0


def test_the_gate_refuses_even_the_right_password_while_a_client_must_wait(tmp_path, monkeypatch):
    import app.dashboard.access as access

    now = [0.0]
    monkeypatch.setattr(access, "THROTTLE", access.LoginThrottle(clock=lambda: now[0]))
    monkeypatch.setenv("TASER_DATABASE_URL", f"sqlite:///{tmp_path / 'taser.db'}")
    monkeypatch.setenv("TASER_DASHBOARD_PASSWORD", "correct horse")
    at = AppTest.from_file(str(MAIN), default_timeout=60).run()
    for _ in range(access.FREE_ATTEMPTS):
        at.text_input[0].input("wrong")
        at.button[0].click().run()
        assert [e.value for e in at.error] == ["Wrong password."]
    at.text_input[0].input("correct horse")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Too many wrong passwords: try again in 1 s."]
    assert len(at.text_input) == 1  # still locked, the password was not even checked
    now[0] += 1.0
    at.text_input[0].input("correct horse")
    at.button[0].click().run()
    assert not at.exception and not at.text_input  # in

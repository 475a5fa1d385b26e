"""Shared fixtures: deterministic seeds, one CPU thread where asked, a fresh queue database."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="module")
def one_thread():
    """The CI box's two cores are shared; one thread per test process avoids oversubscription."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def queue_db(tmp_path, monkeypatch):
    """A fresh SQLite queue database and artifact root under tmp_path, named by the environment."""
    monkeypatch.setenv("TASER_DATABASE_URL", f"sqlite:///{tmp_path / 'taser.db'}")
    monkeypatch.setenv("TASER_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    from db.session import dispose_engines

    dispose_engines()
    yield tmp_path
    dispose_engines()

"""What can be tested of the container set-up without building it: entrypoint and compose file."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"


def _entrypoint(**env):
    full = {"PATH": os.environ["PATH"], "TASER_ENTRYPOINT_DRY_RUN": "1", **env}
    return subprocess.run(["bash", str(ENTRYPOINT)], env=full, capture_output=True, text=True, timeout=30)


def test_worker_role_pins_its_gpu_and_shares_the_artifact_root():
    out = _entrypoint(TASER_ROLE="worker", TASER_WORKER_GPU="1", TASER_ARTIFACT_ROOT="/shared/a",
                      TASER_DATABASE_URL="postgresql+psycopg://h/db")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "CUDA_VISIBLE_DEVICES=1 TASER_ARTIFACT_ROOT=/shared/a taser worker"


def test_dashboard_role_refuses_to_listen_without_a_password():
    out = _entrypoint(TASER_ROLE="dashboard")
    assert out.returncode == 64 and "TASER_DASHBOARD_PASSWORD" in out.stderr
    ok = _entrypoint(TASER_ROLE="dashboard", TASER_DASHBOARD_PASSWORD="s3cret", TASER_PORT="9000")
    assert ok.returncode == 0
    assert "taser dashboard --host 0.0.0.0 --port 9000 --no-worker" in ok.stdout
    assert "SQLite" in ok.stderr  # warns that no shared database is configured


def test_unknown_role_is_an_error():
    out = _entrypoint(TASER_ROLE="trainer")
    assert out.returncode == 64 and "unknown TASER_ROLE" in out.stderr


def test_compose_file_wires_every_service_to_one_queue_and_volume():
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    workers = [name for name in services if name.startswith("worker")]
    assert workers and "dashboard" in services and "postgres" in services
    for name in workers + ["dashboard"]:
        env = services[name]["environment"]
        assert env["TASER_DATABASE_URL"].startswith("postgresql")
        assert "artifacts:/data/artifacts" in services[name]["volumes"]
    assert {services[w]["environment"]["TASER_WORKER_GPU"] for w in workers} == {str(i) for i in range(len(workers))}

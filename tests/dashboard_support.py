"""What the dashboard tests share: a temporary database for a module's pages, opening a page
with AppTest, and seeding the database by running small real jobs through the real worker."""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator
from pathlib import Path

MAIN = Path(__file__).resolve().parent.parent / "app" / "dashboard" / "main.py"
PAGES = ("home", "launch", "runs", "run", "compare", "extrapolation", "alignment", "robustness",
         "overhead", "paper_check", "report", "studies")
# A real study at the smallest size that still has both sides of Table 2: one method, one seed,
# without and with TASER, each trained briefly and evaluated with AutoAttack and SPSA.
TINY_STUDY = {"name": "tiny study", "methods": ["standard"], "seeds": [0],
              "train": {"epochs": 1, "batch_size": 128, "max_train_samples": 256},
              "evaluate": {"n_eval": 20, "apgd_n_iter": 3, "square_n_queries": 10, "spsa_nb_iter": 2,
                           "spsa_nb_sample": 4, "iteration_check": None}}


DATABASE_ENV = ("TASER_DATABASE_URL", "TASER_ARTIFACT_ROOT")


@contextlib.contextmanager
def temporary_database(root: Path) -> Iterator[str]:
    """The store and the pages on a SQLite database and artifact root under `root` for the block;
    yields the database URL. Set in the environment (AppTest's pages read it there; module-scoped
    fixtures cannot use monkeypatch); the previous values and engines come back afterwards."""
    from db.session import dispose_engines

    url = f"sqlite:///{root / 'taser.db'}"
    saved = {key: os.environ.get(key) for key in DATABASE_ENV}
    os.environ.update({"TASER_DATABASE_URL": url, "TASER_ARTIFACT_ROOT": str(root / "artifacts")})
    dispose_engines()
    try:
        yield url
    finally:
        dispose_engines()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def open_page(page: str, query: dict | None = None, timeout_s: float = 60):
    """The app run with AppTest, switched to `page` (a screens/ name) with `query` in its URL."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(MAIN), default_timeout=timeout_s)
    at.run()
    if query:
        at.query_params.update(query)
    at.switch_page(f"screens/{page}.py").run()
    return at


def open_clean_page(page: str, query: dict | None = None):
    """`open_page`, asserting that the page drew no exception and no error."""
    at = open_page(page, query)
    assert not at.exception, [item.value for item in at.exception]
    assert not at.error, [item.value for item in at.error]
    return at


def engine_available(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def seed(url: str, artifact_root: Path) -> dict[str, int]:
    """Queue and run: two `count` trainings (metrics, checkpoints), a failing one, a tiny toy1d
    study and a tiny overhead benchmark when their engine modules are installed; leave one job
    queued. Returns {name: run_id}."""
    from app.jobs import normalized_config
    from app.worker import Worker, WorkerOptions
    from db import store

    plan = [("count-a", "count", {"steps": 12, "step_s": 0.0, "lr": 0.1}, ["demo", "a"]),
            ("count-b", "count", {"steps": 12, "step_s": 0.0, "lr": 0.3}, ["b"]),
            ("count-fail", "count", {"steps": 5, "step_s": 0.0, "fail_at_step": 3}, [])]
    if engine_available("taser_engine.experiments.toy1d"):
        plan.append(("toy1d", "toy1d", {"seeds": 2, "epochs": 60, "lambdas": [0.0, 0.01], "n_test": 256,
                                        "grid_points": 101}, []))
    if engine_available("taser_engine.overhead"):
        plan.append(("overhead", "bench-overhead", {"models": ["small_cnn"], "devices": ["cpu"],
                                                    "methods": ["jvp"], "laplacians": ["none"],
                                                    "warmup": 0, "repeats": 1}, []))
    runs = {"model": model_run(url, artifact_root)}
    plan.append(("alignment", "alignment", {"model_run": runs["model"], "n": 64, "examples": 2}, []))
    for name, kind, config, tags in plan:
        job_id = store.submit_job(kind, normalized_config(kind, config), name=name, tags=tags, url=url)
        runs[name] = store.get_job(job_id, url=url).run_id
    from app.studies.service import start_study
    from app.studies.spec import StudySpec

    study_id = start_study(StudySpec(**TINY_STUDY), url=url)
    runs.update({f"study/{key}": member.run_id for key, member in store.study_members(study_id, url=url).items()})
    Worker(WorkerOptions(once=True, poll_interval_s=0.05, url=url, root=artifact_root)).run()
    waiting = store.submit_job("count", normalized_config("count", {"steps": 3}), name="waiting", url=url)
    runs["waiting"] = store.get_job(waiting, url=url).run_id
    return runs


def model_run(url: str, artifact_root: Path) -> int:
    """A finished run that saved a small CNN trained briefly on digits (what trainings leave)."""
    import torch

    from app.jobs import normalized_config
    from app.worker import Worker, WorkerOptions, run_dir_for
    from db import store
    from taser_engine.checkpoints import save_model
    from taser_engine.datasets import load_dataset
    from taser_engine.models import ModelSpec, build_model

    job_id = store.submit_job("noop", normalized_config("noop", {"tag": "model"}), name="digits-cnn", url=url)
    run_id = store.get_job(job_id, url=url).run_id
    Worker(WorkerOptions(once=True, poll_interval_s=0.05, url=url, root=artifact_root)).run()
    torch.manual_seed(0)
    model = build_model(ModelSpec(arch="small_cnn", width=8))
    x, y = load_dataset("digits", "train").tensors
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(30):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(model(x[:256]), y[:256]).backward()
        optimiser.step()
    save_model(run_dir_for(run_id, artifact_root), model.eval())
    return run_id

"""The demo plan: which jobs `taser demo` (and the Home page's button) queue, as data.

Each step names a job kind and a config (fields of that kind's pydantic config), in a quick
variant (under 5 minutes on a 2-core CPU) and a full one (under 30). Kinds not registered in this
installation, or whose engine module is missing, are skipped with a note, so the same plan works
while the engine grows. Steps may name a `parent` step whose run they refer to (evaluations of a
training); the parent's run id is passed as `parent_run_id`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEMO_TAG = "demo"
BASE_METHODS = ("standard", "pgd", "trades", "mart", "trades_awp", "mart_awp")


@dataclass(frozen=True)
class DemoStep:
    key: str  # unique within the plan, e.g. "train-pgd-taser"
    kind: str
    quick: dict[str, Any]
    full: dict[str, Any]
    name: str
    parent: str | None = None  # key of the step whose run this one refers to
    tags: tuple[str, ...] = field(default_factory=tuple)


def demo_plan() -> list[DemoStep]:
    steps = [
        DemoStep("toy1d", "toy1d", quick={"seeds": 2, "epochs": 800}, full={}, name="demo: 1D extrapolation study"),
        DemoStep("overhead", "bench-overhead",
                 quick={"models": ["small_cnn"], "devices": ["cpu"], "warmup": 1, "repeats": 3},
                 full={"devices": ["cpu"], "warmup": 1, "repeats": 3}, name="demo: overhead benchmark"),
        DemoStep("score-model", "score-model", quick={"dataset": "digits", "epochs": 3},
                 full={"dataset": "digits", "epochs": 20}, name="demo: digits score model"),
    ]
    methods = BASE_METHODS[:2]  # the quick demo's methods (see _in_quick)
    for method in BASE_METHODS:
        for taser in (False, True):
            label = f"{method}{' + TASER' if taser else ''}"
            key = f"train-{method}-{'taser' if taser else 'plain'}"
            train = {"dataset": "digits", "method": method, "taser": taser, "device": "cpu"}
            steps.append(DemoStep(key, "train", quick={**train, "epochs": 3}, full={**train, "epochs": 10},
                                  name=f"demo: train {label}", tags=("quick",) if method in methods else ()))
            steps.append(DemoStep(f"eval-{method}-{'taser' if taser else 'plain'}", "evaluate",
                                  quick={"n": 100}, full={"n": 500}, name=f"demo: evaluate {label}",
                                  parent=key, tags=("quick",) if method in methods else ()))
    return steps


def _in_quick(step: DemoStep) -> bool:
    """The quick demo trains only the first two base methods (each with and without TASER)."""
    return step.kind not in ("train", "evaluate") or "quick" in step.tags


def queue_demo(quick: bool = True, *, url: str | None = None) -> tuple[list[dict], list[str]]:
    """Queue the plan; returns ([{key, kind, job_id, run_id}], [notes about skipped steps])."""
    from app.jobs import JobConfigError, kind_names, normalized_config
    from db import queue

    registered = set(kind_names())
    queued, notes, run_of = [], [], {}
    for step in demo_plan():
        if quick and not _in_quick(step):
            continue
        if step.kind not in registered:
            notes.append(f"skipped {step.key}: job kind `{step.kind}` is not installed yet")
            continue
        if step.parent and step.parent not in run_of:
            notes.append(f"skipped {step.key}: it needs {step.parent}, which was not queued")
            continue
        try:
            config = normalized_config(step.kind, step.quick if quick else step.full)
        except ImportError as exc:
            notes.append(f"skipped {step.key}: job kind `{step.kind}` is not available yet ({exc})")
            continue
        except JobConfigError as exc:
            notes.append(f"skipped {step.key}: {exc}")
            continue
        job_id = queue.submit_job(step.kind, config, name=step.name, parent_run_id=run_of.get(step.parent),
                                  tags=[DEMO_TAG, "quick" if quick else "full"], url=url)
        run_id = queue.get_job(job_id, url=url).run_id
        run_of[step.key] = run_id
        queued.append({"key": step.key, "kind": step.kind, "job_id": job_id, "run_id": run_id})
    return queued, notes

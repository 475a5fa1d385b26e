"""The demo plan: which jobs `taser demo` (and the Home / Launch buttons) queue, as data.

Each step names a job kind and a config (fields of that kind's pydantic config) in a quick
variant (target: under 5 minutes on a 2-core CPU) and a full one (under 30). A step may refer to
the runs of earlier steps through config fields (`refs`: field -> step key), e.g. an evaluation's
`model_run` is the run id of its training, and a TASER training's `score_model_run` the demo's
score model. Kinds not registered in this installation, or whose engine module is missing, are
skipped with a note, so the same plan works while the engine grows. Queue order is the run order
(trainings before their evaluations) with one worker; the queue has no dependencies, so with
several workers an evaluation can start before its training has finished and fail; re-queue it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEMO_TAG = "demo"
BASE_METHODS = ("standard", "pgd", "trades", "mart", "trades-awp", "mart-awp")
QUICK_METHODS = ("standard", "pgd")  # the quick demo trains these, each with and without TASER
DIGITS_CPU = {"dataset": "digits", "arch": "small_cnn", "width": 16, "batch_size": 64, "lr": 3e-3,
              "device": "cpu", "taser_lambda": 0.03, "awp_warmup": 3}


@dataclass(frozen=True)
class DemoStep:
    key: str  # unique within the plan, e.g. "train-pgd-taser"
    kind: str
    quick: dict[str, Any]
    full: dict[str, Any]
    name: str
    refs: dict[str, str] = field(default_factory=dict)  # config field -> key of the step whose run id it takes
    required_refs: bool = True  # skip the step when a referenced step was not queued (else drop the field)
    in_quick: bool = True


def demo_plan() -> list[DemoStep]:
    steps = [
        DemoStep("toy1d", "toy1d", quick={"seeds": 2, "epochs": 800}, full={}, name="demo: 1D extrapolation study"),
        DemoStep("overhead", "bench-overhead",
                 quick={"models": ["small_cnn"], "devices": ["cpu"], "warmup": 1, "repeats": 3},
                 full={"devices": ["cpu"], "warmup": 1, "repeats": 3}, name="demo: overhead benchmark"),
        DemoStep("score-model", "score-model", quick={"dataset": "digits", "epochs": 3},
                 full={"dataset": "digits", "epochs": 20}, name="demo: digits score model"),
    ]
    for method in BASE_METHODS:
        for taser in (False, True):
            label = f"{method}{' + TASER' if taser else ''}"
            train_key = f"train-{method}-{'taser' if taser else 'plain'}"
            train = {**DIGITS_CPU, "method": method, "taser": taser}
            steps.append(DemoStep(train_key, "train", quick={**train, "epochs": 3}, full={**train, "epochs": 10},
                                  name=f"demo: train {label}", refs={"score_model_run": "score-model"} if taser else {},
                                  required_refs=False, in_quick=method in QUICK_METHODS))
            steps.append(DemoStep(f"eval-{method}-{'taser' if taser else 'plain'}", "evaluate",
                                  # AutoAttack and SPSA: the pair the paper's tables average
                                  quick={"n_eval": 100, "attacks": ["autoattack", "spsa"], "spsa_nb_iter": 8},
                                  full={"n_eval": 300}, name=f"demo: evaluate {label}",
                                  refs={"model_run": train_key}, in_quick=method in QUICK_METHODS))
    return steps


def queue_demo(quick: bool = True, *, url: str | None = None) -> tuple[list[dict], list[str]]:
    """Queue the plan; returns ([{key, kind, job_id, run_id}], [notes about skipped steps])."""
    from app.jobs import JobConfigError, kind_names, normalized_config, referenced_run, referenced_runs
    from db import store

    registered = set(kind_names())
    queued, notes, run_of = [], [], {}
    for step in demo_plan():
        if quick and not step.in_quick:
            continue
        if step.kind not in registered:
            notes.append(f"skipped {step.key}: job kind `{step.kind}` is not installed yet")
            continue
        missing = [key for key in step.refs.values() if key not in run_of]
        if missing and step.required_refs:
            notes.append(f"skipped {step.key}: it needs {', '.join(missing)}, which was not queued")
            continue
        raw = dict(step.quick if quick else step.full)
        raw.update({name: run_of[key] for name, key in step.refs.items() if key in run_of})
        try:
            config = normalized_config(step.kind, raw)
        except ImportError as exc:
            notes.append(f"skipped {step.key}: job kind `{step.kind}` is not available yet ({exc})")
            continue
        except JobConfigError as exc:
            notes.append(f"skipped {step.key}: {exc}")
            continue
        job_id = store.submit_job(step.kind, config, name=step.name, parent_run_id=referenced_run(config),
                                  depends_on=referenced_runs(config), tags=[DEMO_TAG, "quick" if quick else "full"], url=url)
        run_id = store.get_job(job_id, url=url).run_id
        run_of[step.key] = run_id
        queued.append({"key": step.key, "kind": step.kind, "job_id": job_id, "run_id": run_id})
    return queued, notes

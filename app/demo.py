"""The demo plan: which jobs `taser demo` (and the Home / Launch buttons) queue, as data.

Each step names a job kind and a config (fields of that kind's pydantic config; the trainings start
from the engine's `digits-cpu` preset) in a quick variant and a full one (how long they take:
app.commands.demo.QUICK_TAKES and FULL_TAKES). A step may refer to
the runs of earlier steps through config fields (`refs`: field -> step key), e.g. an evaluation's
`model_run` is the run id of its training, and a TASER training's `score_model_run` the demo's
score model. Each job waits for the runs it refers to (the queue's dependencies), so any number
of workers can take the plan; a step whose config does not validate is skipped with a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from taser_engine.objectives import METHODS

DEMO_TAG = "demo"
BASE_METHODS = METHODS  # the demo trains every built-in base objective
QUICK_METHODS = ("standard", "pgd")  # the quick demo trains these, each with and without TASER


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
    from taser_engine.training.presets import PRESETS

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
            train = {**PRESETS["digits-cpu"]["train"], "method": method, "taser": taser}
            if taser and method == "standard":
                # the penalty on the batch's BatchNorm statistics lets a standard step share one
                # forward and backward (×2.0–2.3 instead of ×2.5–2.9 on the CPU; README, Whole-step
                # benchmark); the adversarial methods cannot share it, so they keep the eval-mode pass
                train["penalty"] = {"batchnorm": "batch"}
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
    from app.submission import SubmissionError, submit

    queued, notes, run_of = [], [], {}
    for step in demo_plan():
        if quick and not step.in_quick:
            continue
        missing = [key for key in step.refs.values() if key not in run_of]
        if missing and step.required_refs:
            notes.append(f"skipped {step.key}: it needs {', '.join(missing)}, which was not queued")
            continue
        raw = dict(step.quick if quick else step.full)
        raw.update({name: run_of[key] for name, key in step.refs.items() if key in run_of})
        try:
            submitted = submit(step.kind, raw, {"name": step.name, "tags": [DEMO_TAG, "quick" if quick else "full"]},
                               url=url)
        except SubmissionError as exc:
            notes.append(f"skipped {step.key}: {exc}")
            continue
        run_of[step.key] = submitted.run_id
        queued.append({"key": step.key, "kind": step.kind, "job_id": submitted.job_id, "run_id": submitted.run_id})
    return queued, notes

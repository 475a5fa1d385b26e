"""The job-kind registry: what `taser submit KIND` and the worker can run.

A job kind is a module that defines
    Config                      a pydantic model (the kind's whole configuration, paper defaults,
                                `extra="forbid"` so a misspelt field is an error), and
    run(config, ctx) -> dict | None
                                the work. `ctx` is a `taser_engine.callbacks.Callbacks` given by
                                the worker (on_progress, on_metrics, on_checkpoint, should_stop)
                                that also has `ctx.run_dir` (the job's artifact folder) and
                                `ctx.resume_checkpoint` (the last checkpoint path, or None). The
                                returned dict is stored as the run's summary.

To add a kind, add ONE line to JOB_KINDS below. Modules are imported only when a job of that
kind runs or is submitted, so the worker's per-job child process loads torch only for kinds
that need it. Raise `JobError("readable reason")` for failures a user should read as is.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

# kind -> module defining `Config` and `run(config, ctx)`; one line per kind.
JOB_KINDS: dict[str, str] = {
    "noop": "app.jobs.noop",
    "count": "app.jobs.count",
    "train": "app.jobs.train",
    "finetune": "app.jobs.finetune",
    "evaluate": "app.jobs.evaluate",
    "score-model": "app.jobs.score_model",
    "toy1d": "app.jobs.toy1d",
    "bench-overhead": "app.jobs.bench_overhead",
    "bench-train-step": "app.jobs.bench_train_step",
    "alignment": "app.jobs.alignment",
}


class JobError(Exception):
    """A job failure whose message is the readable reason shown to the user."""


class JobConfigError(JobError):
    """A job configuration that does not validate; the message names the fields."""


@dataclass(frozen=True)
class JobKind:
    name: str
    config_class: type
    run: Callable[[Any, Any], dict[str, Any] | None]


def kind_names() -> list[str]:
    return sorted(JOB_KINDS)


def get_kind(name: str) -> JobKind:
    if name not in JOB_KINDS:
        raise JobConfigError(f"unknown job kind {name!r}; known kinds: {', '.join(kind_names())}")
    module = importlib.import_module(JOB_KINDS[name])
    return JobKind(name=name, config_class=module.Config, run=module.run)


def validate_config(kind: str, raw: dict[str, Any] | None) -> Any:
    """The kind's validated config object; JobConfigError naming the bad fields otherwise."""
    from pydantic import ValidationError

    config_class = get_kind(kind).config_class
    try:
        return config_class.model_validate(raw or {})
    except ValidationError as exc:
        raise JobConfigError(describe_validation_error(kind, exc)) from None


def normalized_config(kind: str, raw: dict[str, Any] | None) -> dict[str, Any]:
    """Validated config as JSON-ready data with every default filled in (what gets stored)."""
    return validate_config(kind, raw).model_dump(mode="json")


# Config fields that name another run whose output the job reads, most important first.
RUN_REFERENCE_FIELDS = ("source_run", "model_run", "score_model_run")


def referenced_runs(config: dict[str, Any]) -> list[int]:
    """Every run a job reads (it waits for all of them), most important first."""
    runs = []
    for name in RUN_REFERENCE_FIELDS:
        value = config.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value not in runs:
            runs.append(value)
    return runs


def referenced_run(config: dict[str, Any]) -> int | None:
    """The job's parent run (lineage shown in the dashboard): the first run it reads."""
    runs = referenced_runs(config)
    return runs[0] if runs else None


def describe_validation_error(kind: str, exc) -> str:
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error.get("loc", ())) or "(config)"
        problems.append(f"field '{field}': {error.get('msg')}")
    return f"invalid {kind} config: " + "; ".join(problems)

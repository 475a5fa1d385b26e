"""The job-kind registry: what `taser submit KIND` and the worker can run.

A job kind is a module that defines
    Config                      a pydantic model (the kind's whole configuration, paper defaults,
                                `extra="forbid"` so a misspelt field is an error),
    Result                      a `JobResult` (app/jobs/_result.py): the typed form of the run's
                                summary, which readers get from `parse_result`, and
    run(config, ctx) -> dict | None
                                the work. `ctx` is a `taser_engine.callbacks.Callbacks` given by
                                the worker (on_progress, on_metrics, on_checkpoint, should_stop)
                                that also has `ctx.run_dir` (the job's artifact folder) and
                                `ctx.resume_checkpoint` (the last checkpoint path, or None). The
                                returned dict is validated against `Result` (`validate_result`)
                                and stored as the run's summary.

To add a kind, add ONE line to JOB_KINDS below. Modules are imported only when a job of that
kind runs or is submitted, so the worker's per-job child process loads torch only for kinds
that need it. Raise `JobError("readable reason")` for failures a user should read as is.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from app.jobs._result import JobResult, json_ready  # noqa: F401 (json_ready: part of this API)

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


class JobResultError(JobError):
    """A job's returned summary that does not fit its kind's Result; the message names the fields."""


@dataclass(frozen=True)
class JobKind:
    name: str
    config_class: type
    result_class: type[JobResult]
    run: Callable[[Any, Any], dict[str, Any] | None]


def kind_names() -> list[str]:
    return sorted(JOB_KINDS)


def get_kind(name: str) -> JobKind:
    if name not in JOB_KINDS:
        raise JobConfigError(f"unknown job kind {name!r}; known kinds: {', '.join(kind_names())}")
    module = importlib.import_module(JOB_KINDS[name])
    return JobKind(name=name, config_class=module.Config, result_class=module.Result, run=module.run)


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


def validate_result(kind: str, summary: Any) -> JobResult | None:
    """The kind's Result for what its `run` returned (None stays None); JobResultError naming the
    bad fields otherwise. The runner calls this before sending, so only valid results are stored."""
    from pydantic import ValidationError

    summary = json_ready(summary)
    if summary is None:
        return None
    try:
        return get_kind(kind).result_class.model_validate(summary)
    except ValidationError as exc:
        raise JobResultError(describe_validation_error(kind, exc, what="result")) from None


def parse_result(kind: str, stored: dict[str, Any] | None) -> JobResult:
    """A stored summary as its kind's Result, for readers.

    Summaries of runs that are not jobs (imports) and summaries stored before the kind declared
    its Result may not fit it: those come back as a plain JobResult holding the stored fields, so
    one old run never breaks a page. Only declared fields are read from it."""
    from pydantic import ValidationError

    stored = stored or {}
    for result_class in ([get_kind(kind).result_class] if kind in JOB_KINDS else []) + [JobResult]:
        try:
            return result_class.model_validate(stored)
        except ValidationError:
            pass
    return JobResult.model_construct(**stored)


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


def describe_validation_error(kind: str, exc, what: str = "config") -> str:
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error.get("loc", ())) or f"({what})"
        problems.append(f"field '{field}': {error.get('msg')}")
    return f"invalid {kind} {what}: " + "; ".join(problems)

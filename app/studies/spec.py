"""A study: a named grid of training (or fine-tuning) runs and their evaluations, as data.

`StudySpec` says what to compare (base methods × without/with TASER × seeds × any config field
given a list of values); `plan_study` turns it into the jobs to queue, each a `PlannedJob` with a
stable key, its kind, its validated config and the earlier jobs whose run ids it reads (`refs`:
config field -> key). Nothing here touches the database: the plan is what the CLI shows with
`--dry-run`, what the Launch form counts before queueing, and what `app.studies.service` queues.

Two protocols, the paper's two ways of using TASER:
- `train`: each cell trains from scratch (TASER on or off) and is evaluated. Cells without TASER
  ignore the TASER-only fields (λ, probe, score …), so a λ sweep trains each base model once and
  every λ compares against that same model, not against a retrained copy.
- `finetune`: each method × seed trains a base model without TASER (evaluated: the "without"
  side); every point of the sweep fine-tunes that base model with TASER (the "with" side).
A diffusion score model, when asked for, is one shared score-model job (or an existing run).
"""

from __future__ import annotations

import itertools
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from taser_engine.datasets import DatasetName
from taser_engine.fields import Seed, format_errors
from taser_engine.objectives import METHODS, MethodName

# Fields a run without TASER never reads: left out of such cells (their defaults apply), so
# sweeping them does not multiply identical base trainings.
TASER_ONLY_FIELDS = ("taser_lambda", "lambda_warmup_fraction", "penalty", "score_model", "score_timestep",
                     "score_cache", "score_model_run")
MAX_STUDY_SEEDS = 100
MAX_STUDY_JOBS = 2000  # a grid beyond this is almost surely a typo in a sweep (and would swamp the queue)


class StudySpecError(ValueError):
    """A study that cannot be planned; the message says which field and why."""


class StudySpec(BaseModel):
    """Everything that defines a study; stored with it, so a study can be re-planned and resumed."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=120, description="shown in lists and exports")
    protocol: Literal["train", "finetune"] = Field("train", description=(
        "'train': every cell trains from scratch with or without TASER; 'finetune': base models "
        "trained without TASER, then fine-tuned with TASER (the paper's second protocol)"))
    dataset: DatasetName = Field("digits", description="one dataset for every run of the study")
    methods: list[MethodName] = Field(default_factory=lambda: list(METHODS), min_length=1,
                               description="base objectives")
    taser: list[bool] = Field(default_factory=lambda: [False, True], min_length=1,
                              description="train protocol: without and/or with TASER")
    seeds: list[Seed] = Field(default_factory=lambda: [0, 1, 2], min_length=1, max_length=MAX_STUDY_SEEDS,
                              description="training seeds; every cell is run once per seed")
    train: dict[str, Any] = Field(default_factory=dict, description="train config fields every training shares")
    finetune: dict[str, Any] = Field(default_factory=dict, description="finetune config fields (finetune protocol)")
    evaluate: dict[str, Any] = Field(default_factory=dict, description="evaluate config fields every evaluation shares")
    sweep: dict[str, list[Any]] = Field(default_factory=dict, description=(
        "config field -> values; the study runs every combination (train fields for the train "
        "protocol, finetune fields for the finetune protocol)"))
    score_model: dict[str, Any] | int | None = Field(None, description=(
        "None: TASER uses the Gaussian score fitted to the training set; a dict: a score-model job "
        "config, trained once and shared; an int: the run id of an existing score model"))

    @field_validator("methods")
    @classmethod
    def _once_each(cls, methods: list[str]) -> list[str]:
        return list(dict.fromkeys(methods))

    @field_validator("taser", "seeds")
    @classmethod
    def _unique(cls, values: list) -> list:
        return list(dict.fromkeys(values))

    @field_validator("sweep")
    @classmethod
    def _non_empty_values(cls, sweep: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for name, values in sweep.items():
            if not values:
                raise ValueError(f"sweep field {name!r} has no values")
            if name in ("method", "taser", "seed", "dataset"):
                raise ValueError(f"{name!r} is a study axis of its own (use methods / taser / seeds / dataset)")
        return sweep

    @model_validator(mode="after")
    def _protocol_fields(self) -> StudySpec:
        if self.protocol == "finetune" and set(self.taser) != {False, True}:
            raise ValueError("the finetune protocol always compares the base model with its TASER fine-tune; "
                             "leave `taser` at its default")
        return self


def parse_value(text: str) -> Any:
    """'0.03' -> 0.03, 'true' -> True, 'none' -> None, '[10, 100]' -> [10, 100], else the text."""
    if text.strip().lower() in ("none", "null"):
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.strip()


def parse_setting(item: str) -> tuple[str, list[Any]]:
    """'field=v1,v2' -> ('field', [v1, v2]); a bracketed value is one list ('f=[10, 100]').
    The CLI's `--set` and the Launch form's settings lines read the same way."""
    name, sep, values = item.partition("=")
    if not sep or not name.strip():
        raise StudySpecError(f"{item.strip()[:60]!r}: expected FIELD=V1[,V2…]")
    text = values.strip()
    return name.strip(), [parse_value(text)] if text.startswith("[") else [parse_value(v) for v in text.split(",")]


def with_settings(spec: StudySpec, settings: dict[str, list[Any]], study_name: str | None = None) -> StudySpec:
    """`--set field=v1,v2 …` applied to a spec: one value fixes the field in every config that has
    it (train, finetune, evaluate), several values sweep it; `seeds` / `methods` set those axes.
    `study_name` renames the study; the result is validated whole, the name's bounds included."""
    from app.jobs import get_kind

    fields = {kind: set(get_kind(kind).config_class.model_fields) for kind in ("train", "finetune", "evaluate")}
    data = spec.model_dump()
    if study_name is not None:
        data["name"] = study_name.strip()
    for name, values in settings.items():
        if not values:
            raise StudySpecError(f"--set {name}= has no value")
        if name == "seeds":
            data["seeds"] = _seeds(values)
        elif name in ("methods", "taser"):
            data[name] = values
        elif name == "dataset":
            data["dataset"] = values[0]
        elif len(values) > 1:
            data["sweep"][name] = values
        else:
            homes = [kind for kind in fields if name in fields[kind]]
            if not homes:
                raise StudySpecError(f"--set {name}: no train, finetune or evaluate config has a field {name!r}")
            for kind in homes:
                data[kind][name] = values[0]
            data["sweep"].pop(name, None)
    try:
        return StudySpec.model_validate(data)
    except ValidationError as exc:
        raise StudySpecError(f"invalid study: {format_errors(exc)}") from None


def _seeds(values: list[Any]) -> list[int]:
    """`seeds=N` means seeds 0 … N−1; `seeds=3,7` those seeds. The count is bounded before a
    range is built, so a mistyped huge N is refused, not allocated."""
    try:
        numbers = [int(v) for v in values]
    except (TypeError, ValueError):
        raise StudySpecError(f"--set seeds: {', '.join(map(str, values))} is not a whole number") from None
    if len(numbers) > 1:
        return numbers
    if not 1 <= numbers[0] <= MAX_STUDY_SEEDS:
        raise StudySpecError(f"--set seeds={numbers[0]}: give between 1 and {MAX_STUDY_SEEDS} seeds")
    return list(range(numbers[0]))


class PlannedJob(BaseModel):
    """One job of a study's plan. `cell` places it in the grid (method, taser, seed, swept fields).

    `config` holds the fields the study sets (not the defaults): the kind's config is validated
    when the plan is made, with a placeholder for each field in `refs`, and again when the job is
    queued with the real run ids (validators fill paths from run ids, so the placeholder's
    normalised config must not be stored).
    """

    key: str
    kind: str
    name: str
    config: dict[str, Any]
    refs: dict[str, str] = Field(default_factory=dict)  # config field -> key of the job whose run id it takes
    cell: dict[str, Any] = Field(default_factory=dict)
    role: Literal["score-model", "train", "finetune", "evaluate"]


PLACEHOLDER_RUN = 1  # stands for a run not queued yet while a plan is checked


def _cell_key(cell: dict[str, Any]) -> str:
    return "/".join(f"{k}={v}" for k, v in cell.items())


def _label(cell: dict[str, Any]) -> str:
    rest = "".join(f" {k}={v}" for k, v in cell.items() if k not in ("method", "taser", "seed"))
    return f"{cell['method']}{' + TASER' if cell['taser'] else ''} seed {cell['seed']}{rest}"


def _sweep_points(sweep: dict[str, list[Any]]) -> list[dict[str, Any]]:
    names = list(sweep)
    return [dict(zip(names, values)) for values in itertools.product(*(sweep[n] for n in names))]


class _Plan:
    """Jobs keyed by name and by content, so a job asked for twice (a base model shared by every
    λ of a sweep) is queued once."""

    def __init__(self, spec: StudySpec):
        self.spec = spec
        self.jobs: dict[str, PlannedJob] = {}
        self._by_content: dict[str, str] = {}

    def add(self, kind: str, role: str, config: dict[str, Any], cell: dict[str, Any], name: str,
            refs: dict[str, str] | None = None, key: str | None = None) -> str:
        from app.jobs import JobConfigError, normalized_config

        refs = refs or {}
        key = key or f"{role}/{_cell_key(cell)}"
        try:
            canonical = normalized_config(kind, {**config, **{f: PLACEHOLDER_RUN for f in refs}})
        except JobConfigError as exc:
            raise StudySpecError(f"{key}: {exc}") from None
        content = json.dumps([kind, canonical, refs], sort_keys=True, default=str)
        if content in self._by_content:
            return self._by_content[content]
        if key in self.jobs:
            raise StudySpecError(f"two different jobs share the key {key!r}")
        if len(self.jobs) >= MAX_STUDY_JOBS:
            raise StudySpecError(f"the study has more than {MAX_STUDY_JOBS} jobs; shorten its sweep lists")
        self.jobs[key] = PlannedJob(key=key, kind=kind, name=f"{self.spec.name}: {name}", config=config,
                                    refs=refs, cell=cell, role=role)
        self._by_content[content] = key
        return key

    def evaluate(self, model_key: str, cell: dict[str, Any]) -> None:
        config = {"dataset": self.spec.dataset, "attacks": ["autoattack", "spsa"], **self.spec.evaluate}
        self.add("evaluate", "evaluate", config, cell, f"evaluate {_label(cell)}", refs={"model_run": model_key})


def plan_study(spec: StudySpec) -> list[PlannedJob]:
    """The study's jobs in queue order (each after the jobs it reads), duplicates merged.

    Raises StudySpecError naming the job and field when any config does not validate, so a study
    is refused whole before anything is queued.
    """
    plan = _Plan(spec)
    score_refs: dict[str, str] = {}
    score_fields: dict[str, Any] = {}
    if isinstance(spec.score_model, dict):
        score_refs = {"score_model_run": plan.add("score-model", "score-model",
                                                  {"dataset": spec.dataset, **spec.score_model}, {}, "score model",
                                                  key="score-model")}
    elif isinstance(spec.score_model, int):
        score_fields = {"score_model_run": spec.score_model}

    def train(method: str, taser: bool, seed: int, point: dict[str, Any]) -> str:
        shared = spec.train
        if not taser:
            point, shared = ({k: v for k, v in fields.items() if k not in TASER_ONLY_FIELDS} for fields in (point, shared))
        config = {"dataset": spec.dataset, **shared, **point, "method": method, "taser": taser, "seed": seed}
        cell = {"method": method, "taser": taser, "seed": seed, **point}
        key = plan.add("train", "train", {**config, **(score_fields if taser else {})}, cell, f"train {_label(cell)}",
                       refs=score_refs if taser else {})
        plan.evaluate(key, cell)
        return key

    points = _sweep_points(spec.sweep)
    for method in spec.methods:
        for seed in spec.seeds:
            if spec.protocol == "train":
                for taser in spec.taser:
                    for point in points:
                        train(method, taser, seed, point)
                continue
            base = train(method, False, seed, {})
            for point in points:
                cell = {"method": method, "taser": True, "seed": seed, **point}
                config = {"dataset": spec.dataset, **spec.finetune, **point, "method": method, "taser": True,
                          "seed": seed, **score_fields}
                key = plan.add("finetune", "finetune", config, cell, f"fine-tune {_label(cell)}",
                               refs={"source_run": base, **score_refs})
                plan.evaluate(key, cell)
    return list(plan.jobs.values())

"""`bench-train-step` job: the whole-training-step benchmark (every base method, ± TASER, per score source).

Runs `taser_engine.train_step_bench.run_train_step_bench` under the worker; the rows become the
run's summary (the Overhead page reads them) and are written to `train_step.json` in the run folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from app.jobs._result import BenchResult as Result  # noqa: F401 (the kind's result)
from taser_engine.train_step_bench import TrainStepBenchConfig as Config  # noqa: F401 (the kind's config)
from taser_engine.train_step_bench import run_train_step_bench

RESULT_FILE = "train_step.json"


def run(config, ctx) -> dict:
    result = run_train_step_bench(config, ctx)
    Path(ctx.run_dir, RESULT_FILE).write_text(json.dumps(result, indent=2))
    return result

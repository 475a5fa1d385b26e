"""`bench-overhead` job: the TASER overhead benchmark (ms/sample with and without the penalty).

Runs `taser_engine.overhead.run_overhead` under the worker; the rows become the run's summary
(the Overhead page reads them) and are also written to `overhead.json` in the run folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from app.jobs._result import BenchResult as Result  # noqa: F401 (the kind's result)
from taser_engine.overhead import OverheadConfig as Config  # noqa: F401 (the kind's config)
from taser_engine.overhead import run_overhead

RESULT_FILE = "overhead.json"


def run(config, ctx) -> dict:
    result = run_overhead(config, ctx)
    Path(ctx.run_dir, RESULT_FILE).write_text(json.dumps(result, indent=2))
    return result

"""Data-parallel training jobs (`gpus` > 1): launched through torchrun, reported like any job.

Two sides, one module:

- `launch(kind, config, callbacks, run_dir)` runs in the job's process (the worker's child, or
  `taser train`). It starts `python -m torch.distributed.run --standalone --nproc_per_node N
  -m app.distributed_train ...` and, while it runs, forwards process 0's progress, metrics and
  checkpoints to `callbacks` and turns `callbacks.should_stop()` into a stop file. It returns
  process 0's result, or raises `JobError` with the failing process's readable reason.
- `main()` runs in each of the N processes torchrun starts: it joins the process group (NCCL
  on GPUs, Gloo on the CPU), runs the engine (`train` / `finetune`, which shard the global batch
  and wrap the model in DistributedDataParallel), and talks to `launch` through files in
  `RUN_DIR/distributed/`:
      events.jsonl   process 0's callbacks, one JSON object a line, appended
      STOP           created by `launch` on a cancel; every process polls it and the engine
                     agrees on it with an all_reduce, so all stop at the same step
      result.json    process 0's result
      error.rank<R>  the readable failure reason of process R
  Files rather than pipes: torchrun owns the processes' stdin/stdout (they go to the job log).

The processes die with their launcher (PR_SET_PDEATHSIG on Linux), so a cancelled or killed
job leaves none behind, and each leaves with `os._exit` once its outputs are on disk (a Gloo
group that DDP keeps alive can abort a process during interpreter finalisation).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from functools import partial
from pathlib import Path

from app.jsonlines import JsonLinesTail, JsonLinesWriter
from app.parent_death import die_with_parent
from taser_engine.callbacks import Callbacks
from taser_engine.checkpoints import atomic_write_json

WORK_DIR = "distributed"
EVENTS_FILE = "events.jsonl"
STOP_FILE = "STOP"
RESULT_FILE = "result.json"
CONFIG_FILE = "config.json"
POLL_S = 0.2


# -- the launching side ---------------------------------------------------------------------

def launch(kind: str, config, callbacks: Callbacks, run_dir: str | Path, poll_s: float = POLL_S) -> dict:
    """Run job kind `kind` ('train' or 'finetune') on `config.gpus` processes; process 0's result."""
    from app.jobs import JobError

    work = Path(run_dir) / WORK_DIR
    _fresh_work_dir(work)
    atomic_write_json(work / CONFIG_FILE, config.model_dump(mode="json"))
    _check_devices(config, JobError)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
               "--nproc_per_node", str(config.gpus), "-m", "app.distributed_train",
               "--kind", kind, "--run-dir", str(run_dir)]
    # One thread per process unless told otherwise: N processes already share the cores.
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    print(f"data-parallel: {' '.join(command)}", flush=True)
    # Its own session: a terminal's Ctrl-C reaches only us, and we turn it into a clean stop.
    # SIGTERM when we die: torchrun, on SIGTERM, stops its processes.
    process = subprocess.Popen(command, env=env, preexec_fn=partial(die_with_parent, signal.SIGTERM),
                               start_new_session=True)
    events = JsonLinesTail(work / EVENTS_FILE)
    try:
        while process.poll() is None:
            _forward(events, callbacks)
            if callbacks.should_stop():
                (work / STOP_FILE).touch()
            time.sleep(poll_s)
    except BaseException:
        process.terminate()  # torchrun stops its processes on SIGTERM
        process.wait()
        raise
    _forward(events, callbacks)
    finished = (work / RESULT_FILE).exists() and not list(work.glob("error.rank*"))
    if process.returncode != 0 and not finished:
        raise JobError(_failure(work, process.returncode))
    if process.returncode != 0:
        # Every process finished the run and process 0 saved it; one then died while the
        # process group was torn down (a known Gloo shutdown abort). The result stands.
        print(f"data-parallel: torchrun exited with code {process.returncode} after the run finished; "
              "keeping the saved result", flush=True)
    return json.loads((work / RESULT_FILE).read_text())


def _fresh_work_dir(work: Path) -> None:
    """A re-run (resume) starts with no stop request, no old events or results."""
    work.mkdir(parents=True, exist_ok=True)
    for stale in [STOP_FILE, EVENTS_FILE, RESULT_FILE, *[p.name for p in work.glob("error.rank*")]]:
        (work / stale).unlink(missing_ok=True)


def _check_devices(config, error: type[Exception]) -> None:
    import torch

    wants_cuda = config.device.startswith("cuda") or (config.device == "auto" and torch.cuda.is_available())
    if wants_cuda and torch.cuda.device_count() < config.gpus:
        raise error(f"gpus: {config.gpus} processes need {config.gpus} GPUs; "
                    f"{torch.cuda.device_count()} visible")


def _failure(work: Path, returncode: int) -> str:
    reasons = [p.read_text().strip() for p in sorted(work.glob("error.rank*"))]
    if reasons:
        return reasons[0]
    return f"torchrun exited with code {returncode} without a reason (see the log)"


def _forward(events: JsonLinesTail, callbacks: Callbacks) -> None:
    """Replay the events process 0 appended since the last call."""
    for event in events.read():
        _replay(event, callbacks)


def _replay(event: dict, callbacks: Callbacks) -> None:
    if event["type"] == "progress":
        callbacks.on_progress(event["step"], event["total"], event["message"])
    elif event["type"] == "metrics":
        callbacks.on_metrics(event["step"], event["metrics"], event["scope"])
    elif event["type"] == "checkpoint":
        callbacks.on_checkpoint(event["path"], event["step"])


# -- each process ---------------------------------------------------------------------------

class RankCallbacks(Callbacks):
    """Process 0 appends its reports to events.jsonl; every process polls the stop file.

    (The engine calls the reporting hooks on process 0 only and agrees on stops itself.)
    """

    def __init__(self, work: Path):
        self.events = JsonLinesWriter(work / EVENTS_FILE)
        self.stop_file = work / STOP_FILE

    def _append(self, event: dict) -> None:
        self.events.append(event)

    def on_progress(self, step: int, total: int, message: str = "") -> None:
        self._append({"type": "progress", "step": step, "total": total, "message": message})

    def on_metrics(self, step: int, metrics, scope: str = "step") -> None:
        self._append({"type": "metrics", "step": step, "scope": scope,
                      "metrics": {k: float(v) for k, v in metrics.items()}})

    def on_checkpoint(self, path, step: int) -> None:
        self._append({"type": "checkpoint", "path": str(path), "step": step})

    def should_stop(self) -> bool:
        return self.stop_file.exists()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one process of a data-parallel training job (torchrun)")
    parser.add_argument("--kind", choices=["train", "finetune"], required=True)
    parser.add_argument("--run-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    die_with_parent(signal.SIGKILL)  # never outlive torchrun
    work = args.run_dir / WORK_DIR
    rank = int(os.environ.get("RANK", "0"))
    try:
        _run_rank(args.kind, args.run_dir, work, rank)
        return 0
    except BaseException as exc:  # noqa: BLE001 - the launcher must read why
        from app.jobs.runner import failure_reason

        traceback.print_exc()
        (work / f"error.rank{rank}").write_text(f"process {rank}: {failure_reason(exc)}\n")
        return 1


def _run_rank(kind: str, run_dir: Path, work: Path, rank: int) -> None:
    import torch.distributed as dist

    from app.jobs import validate_config
    from taser_engine.training import finetune, train
    from taser_engine.training.loop import resolve_device

    config = validate_config(kind, json.loads((work / CONFIG_FILE).read_text()))
    backend = "nccl" if resolve_device(config.device).type == "cuda" else "gloo"
    dist.init_process_group(backend)
    engine = train if kind == "train" else finetune
    result = engine(config, RankCallbacks(work), run_dir, resume=True)
    if rank == 0:  # before tearing down: the run's outcome must not depend on a clean exit
        atomic_write_json(work / RESULT_FILE, result)
    # Leave together: a process tearing down its Gloo group while another still talks to it
    # can abort ("terminate called without an active exception"). On failure torchrun stops all.
    dist.barrier()
    dist.destroy_process_group()


def _exit_without_finalising(code: int) -> None:
    """Leave without interpreter finalisation.

    DDP's reducer keeps the Gloo process group alive past `destroy_process_group`; destroying its
    worker threads' pending work while the interpreter shuts down can abort the process
    (SIGABRT, about one run in a hundred here). Everything the run produced is on disk by now.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit_without_finalising(main())

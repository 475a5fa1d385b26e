"""Interactive compute for the dashboard, run outside the Streamlit process.

A page that trains a model (the 1D sliders, the 2D score field) must not do it in the Streamlit
server: one slow or crashing fit would stall or kill every session, and torch's thread pool would
contend with the worker. `run_isolated` runs a function in a fresh spawned process and returns its
pickled result, with a timeout and a readable error; the pages cache what it returns.

The functions the pages hand over (`single_fit_1d`, `score_field_2d`) import the engine inside the
child only, so the Streamlit process never loads the training code.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from typing import Any

DEFAULT_TIMEOUT_S = 120.0  # the interactive fits take seconds; a minute-long one is a bug or an overload


class IsolatedComputeError(RuntimeError):
    """The child failed, died or ran out of time; the message says which, in one line."""


def _child_main(conn, fn: Callable, args: tuple, kwargs: dict, threads: int) -> None:
    try:
        try:
            import torch

            torch.set_num_threads(threads)  # small models: more threads only contend with the worker
        except ImportError:
            pass
        conn.send(("ok", fn(*args, **kwargs)))
    except BaseException as exc:  # noqa: BLE001 - every failure goes back as text, never a hang
        conn.send(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    finally:
        conn.close()


def run_isolated(fn: Callable, *args, timeout_s: float = DEFAULT_TIMEOUT_S, threads: int = 1, **kwargs) -> Any:
    """`fn(*args, **kwargs)` in a spawned child process; its result, or IsolatedComputeError.

    `fn`, its arguments and its result must pickle (`fn` a module-level function).
    """
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child_main, args=(send, fn, args, kwargs, threads), daemon=True)
    process.start()
    send.close()  # the child holds the only write end, so a dead child reads as EOF below
    name = getattr(fn, "__name__", repr(fn))
    try:
        if not receive.poll(timeout_s):
            raise IsolatedComputeError(f"{name} did not finish within {timeout_s:g} s and was stopped")
        try:
            message = receive.recv()
        except EOFError:
            process.join(5)
            raise IsolatedComputeError(f"{name} stopped without a result (exit code {process.exitcode})") from None
    finally:
        receive.close()
        if process.is_alive():
            process.kill()
        process.join(5)
    if message[0] == "error":
        raise IsolatedComputeError(f"{name} failed: {message[1]}")
    return message[1]


# ---------------------------------------------------------------- what the pages run (in the child)

def single_fit_1d(regulariser: str, lam: float, width: int, distribution: str, target: str) -> dict:
    """One 1D extrapolation fit as plain data (the sliders of the extrapolation page)."""
    import dataclasses

    from taser_engine.experiments.toy1d import train_single

    return dataclasses.asdict(train_single(regulariser, lam, width=width, distribution=distribution, target=target))


def score_field_2d(lam: float, separation: float, steps: int) -> dict:
    """A plain and a TASER classifier on 2D data with their gradient fields (the score-field page)."""
    from taser_engine.field2d import Field2DConfig, score_field_pair

    return score_field_pair(Field2DConfig(taser_lambda=lam, separation=separation, steps=steps))

"""`app.dashboard.compute.run_isolated`: the dashboard's interactive training runs in a child process."""

from __future__ import annotations

import os
import time

import pytest

from app.dashboard.compute import IsolatedComputeError, run_isolated, score_field_2d

FIELD = (1.0, 1.5, 20)  # λ, separation, steps: a couple of seconds at most


def _raises(message: str) -> None:
    raise ValueError(message)


def _dies(code: int) -> None:
    os._exit(code)


def _sleeps(seconds: float) -> None:
    time.sleep(seconds)


def _flat(rows: list[list[float]]) -> list[float]:
    return [value for row in rows for value in row]


def test_the_isolated_result_is_the_in_process_result(one_thread):
    isolated = run_isolated(score_field_2d, *FIELD)
    here = score_field_2d(*FIELD)
    assert isolated.keys() == here.keys() and isolated["settings"] == here["settings"]
    for ours, theirs in zip(isolated["panels"], here["panels"]):
        assert ours["title"] == theirs["title"]
        assert ours["train_accuracy"] == pytest.approx(theirs["train_accuracy"])
        assert _flat(ours["grad"]) == pytest.approx(_flat(theirs["grad"]), rel=1e-4, abs=1e-6)


@pytest.mark.parametrize(("fn", "args", "timeout_s", "message"), [
    (_raises, ("no such target",), 60, r"_raises failed: ValueError: no such target"),
    (_dies, (3,), 60, r"_dies stopped without a result \(exit code 3\)"),
    (_sleeps, (60,), 1, r"_sleeps did not finish within 1 s"),
])
def test_a_failing_child_is_one_readable_error(fn, args, timeout_s, message):
    start = time.monotonic()
    with pytest.raises(IsolatedComputeError, match=message) as caught:
        run_isolated(fn, *args, timeout_s=timeout_s)
    assert "\n" not in str(caught.value)
    assert time.monotonic() - start < 45  # a stuck child is stopped, not waited for


def test_the_pages_train_nothing_in_the_streamlit_process(monkeypatch):
    """Training here would call backward; it is made to fail, so only a child can have trained."""
    import torch

    from app.dashboard.views.alignment import compute_field

    def no_training_here(*args, **kwargs):
        raise AssertionError("a dashboard view trained a model in the Streamlit process")

    monkeypatch.setattr(torch.Tensor, "backward", no_training_here)
    compute_field.clear()
    field = compute_field(*FIELD)
    assert [panel["title"] for panel in field["panels"]] == ["without TASER", "with TASER (λ=1)"]
    with pytest.raises(AssertionError, match="Streamlit process"):
        score_field_2d(*FIELD)  # the guard does catch in-process training


TRAINING_ENTRY_POINTS = {"train_single", "train_stack", "run_study", "score_field_pair", "train", "finetune"}


def test_only_the_compute_module_reaches_training_code():
    """Outside compute.py no dashboard module names the engine's training entry points or an optimiser."""
    import ast
    from pathlib import Path

    dashboard = Path(__file__).resolve().parents[1] / "app" / "dashboard"
    found = []
    for path in sorted(dashboard.rglob("*.py")):
        if path.name == "compute.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(("taser_engine", "torch")):
                names = {alias.name for alias in node.names}
                if names & TRAINING_ENTRY_POINTS or node.module.startswith("torch.optim"):
                    found.append(f"{path.name}: from {node.module} import {', '.join(sorted(names))}")
            elif isinstance(node, ast.Attribute) and node.attr in {"optim", "backward"}:
                found.append(f"{path.name}:{node.lineno}: .{node.attr}")
    assert found == []

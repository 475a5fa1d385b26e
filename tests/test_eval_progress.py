"""Evaluations report progress by attack and batch as one count (issue 18, gap 7).

The `evaluate` job kind, run as the worker runs it (its `run(config, ctx)` with the worker's
callbacks replaced by a recorder), on a tiny digits model: every message names the attack (and
AutoAttack's sub-attack) and the batch, the count never goes back, is one total throughout, and
reaches it; so the bar moves and a driver's ETA is known from the first batch on."""

from __future__ import annotations

import re

import pytest

from app.jobs import validate_config
from app.jobs.evaluate import run as run_evaluation
from app.paths import run_dir_for
from taser_engine.callbacks import RecordingCallbacks
from taser_engine.checkpoints import save_model
from taser_engine.evaluation.attacks import Attack
from taser_engine.evaluation.runner import EvaluationProgress
from tests.evaluation_fixtures import train_digits_mlp


class Recorder(RecordingCallbacks):
    def __init__(self, run_dir):
        super().__init__()
        self.run_dir = run_dir


@pytest.fixture
def model_run(queue_db):
    from db import store

    run_id = store.record_finished_run("train", {"dataset": "digits", "method": "standard", "taser": False})
    save_model(run_dir_for(run_id), train_digits_mlp(epochs=10))
    return run_id


def test_evaluate_job_reports_attack_and_batch_on_one_monotone_count(model_run, tmp_path):
    config = validate_config("evaluate", {
        "model_run": model_run, "n_eval": 8, "batch_size": 4, "attacks": ["apgd_ce", "spsa"],
        "apgd_n_iter": 5, "spsa_nb_iter": 2, "spsa_nb_sample": 4, "iteration_check": [1, 2]})
    recorder = Recorder(tmp_path)
    run_evaluation(config, recorder)
    steps = [step for step, _, _ in recorder.progress]
    totals = {total for _, total, _ in recorder.progress}
    messages = [message for _, _, message in recorder.progress]
    assert len(totals) == 1 and steps == sorted(steps) and steps[-1] == totals.pop()
    assert "APGD-CE batch 1/2" in messages  # 8 points, 4 a batch
    assert [m for m in messages if m.startswith("SPSA")] == ["SPSA batch 1/2", "SPSA batch 2/2"]
    assert any(re.fullmatch(r"masking check, APGD-CE at 2 iterations: batch \d/\d", m) for m in messages)
    assert messages[-1] == "evaluation done"
    # the first batch moves the count (an ETA needs two different counts)
    assert steps[messages.index("APGD-CE batch 1/2")] > steps[0]


class Staged(Attack):
    """An attack of two stages, the second three times as costly per batch, that reports what
    `reports` says and may end before its last stage (as AutoAttack does once no point is left)."""

    name = "staged"
    label = "staged"

    def __init__(self, reports):
        self.reports = reports

    def stages(self):
        return [("cheap", 1.0), ("dear", 3.0)]

    def run(self, model, x, y, *, batch_size, progress):
        for stage, done, total in self.reports:
            progress(done, total, stage)
        return None


def test_stages_share_the_count_by_cost_and_an_attack_that_ends_early_jumps_to_its_end():
    recorder = RecordingCallbacks()
    first = Staged([("cheap", 0, 0), ("cheap", 1, 2), ("cheap", 2, 2), ("dear", 1, 1)])
    early = Staged([("cheap", 1, 1)])  # its "dear" stage never runs
    progress = EvaluationProgress(recorder, [("Staged", first), ("Early", early)], n_batches=2)
    assert progress.total == 2 * (2 + 6)
    progress.run("Staged", first, lambda report: first.run(None, None, None, batch_size=1, progress=report))
    progress.run("Early", early, lambda report: early.run(None, None, None, batch_size=1, progress=report))
    assert recorder.progress == [
        (0, 16, "Staged cheap starting"), (1, 16, "Staged cheap batch 1/2"), (2, 16, "Staged cheap batch 2/2"),
        (8, 16, "Staged dear batch 1/1"),  # the dear stage's 6 units in one batch: fewer points were left
        (10, 16, "Early cheap batch 1/1")]
    assert progress.done == 16

"""Study plans: the grid a spec expands to, shared base models, refs in queue order, refusals."""

from __future__ import annotations

from collections import Counter

import pytest

from app.studies.presets import STUDY_PRESETS, study_preset
from app.studies.spec import StudySpec, StudySpecError, plan_study, with_settings

SMALL = {"epochs": 1, "arch": "small_cnn", "width": 8}


def _check_queue_order(plan):
    seen = set()
    for job in plan:
        assert set(job.refs.values()) <= seen, f"{job.key} reads a job queued after it"
        seen.add(job.key)


def test_a_lambda_sweep_trains_each_base_model_once():
    spec = StudySpec(name="s", methods=["standard", "pgd"], seeds=[0, 1], train=SMALL,
                     sweep={"taser_lambda": [0.01, 0.1, 1.0]})
    plan = plan_study(spec)
    trains = [j for j in plan if j.kind == "train"]
    # per method and seed: one model without TASER (λ does not enter it) and one per λ with TASER
    assert len(trains) == 2 * 2 * (1 + 3)
    assert Counter(j.cell["taser"] for j in trains) == {False: 4, True: 12}
    assert all("taser_lambda" not in j.config and "taser_lambda" not in j.cell for j in trains if not j.cell["taser"])
    assert sorted({j.config["taser_lambda"] for j in trains if j.cell["taser"]}) == [0.01, 0.1, 1.0]
    evaluations = [j for j in plan if j.kind == "evaluate"]
    assert len(evaluations) == len(trains) and {j.refs["model_run"] for j in evaluations} == {j.key for j in trains}
    _check_queue_order(plan)


def test_the_finetune_protocol_fine_tunes_each_base_model_over_the_sweep_with_a_shared_score_model():
    spec = StudySpec(name="f", protocol="finetune", methods=["standard"], seeds=[0, 1], train=SMALL,
                     finetune={"epochs": 1}, sweep={"adversarial_lite_steps": [None, 2]},
                     score_model={"epochs": 1})
    plan = plan_study(spec)
    assert Counter(j.kind for j in plan) == {"score-model": 1, "train": 2, "finetune": 4, "evaluate": 6}
    bases = {j.key for j in plan if j.kind == "train"}
    for job in plan:
        if job.kind == "finetune":
            assert job.refs["source_run"] in bases and job.refs["score_model_run"] == "score-model"
            assert job.config["taser"] is True
    assert not any(j.kind == "train" and "score_model_run" in j.refs for j in plan)
    _check_queue_order(plan)


def test_an_existing_score_model_run_is_named_in_every_taser_config():
    plan = plan_study(StudySpec(name="e", methods=["standard"], seeds=[0], train=SMALL, score_model=7))
    taser = [j for j in plan if j.kind == "train" and j.cell["taser"]]
    assert [j.config.get("score_model_run") for j in taser] == [7]


def test_a_bad_value_refuses_the_whole_study_naming_the_cell_and_field():
    spec = StudySpec(name="b", methods=["standard"], seeds=[0], train=SMALL, sweep={"taser_lambda": [0.1, -1.0]})
    with pytest.raises(StudySpecError, match=r"taser_lambda=-1.0.*taser_lambda"):
        plan_study(spec)


@pytest.mark.parametrize("bad", [{"methods": ["sgd"]}, {"sweep": {"epochs": []}}, {"sweep": {"seed": [1, 2]}},
                                 {"seeds": []}, {"protocol": "finetune", "taser": [True]}])
def test_bad_specs_are_refused(bad):
    with pytest.raises(ValueError):
        StudySpec(name="x", **bad)


def test_settings_fix_one_value_and_sweep_several():
    spec = with_settings(study_preset("table2-digits"),
                         {"epochs": [2], "seeds": ["1"], "taser_lambda": ["0.01", "0.1"], "n_eval": [50]})
    assert spec.train["epochs"] == 2 and spec.seeds == [0] and spec.evaluate["n_eval"] == 50
    assert spec.sweep == {"taser_lambda": ["0.01", "0.1"]}
    assert len([j for j in plan_study(spec) if j.kind == "train"]) == 6 * (1 + 2)
    with pytest.raises(StudySpecError, match="no train, finetune or evaluate config has a field 'nonsense'"):
        with_settings(spec, {"nonsense": [1]})


@pytest.mark.parametrize("name", [n for n in STUDY_PRESETS if n != "table2-cifar10"])
def test_the_digits_presets_plan(name):
    plan = plan_study(study_preset(name))
    assert plan and all(j.config["dataset"] == "digits" for j in plan if "dataset" in j.config)
    _check_queue_order(plan)


def test_the_cifar10_preset_asks_for_its_data_folder(tmp_path, monkeypatch):
    with pytest.raises(StudySpecError, match="data_root"):
        plan_study(study_preset("table2-cifar10"))
    monkeypatch.setenv("TASER_DATA_ROOTS", str(tmp_path))
    spec = with_settings(study_preset("table2-cifar10"), {"data_root": [str(tmp_path / "cifar10")]})
    plan = plan_study(spec)
    assert Counter(j.kind for j in plan)["train"] == 36 and plan[0].kind == "score-model"


@pytest.mark.parametrize("value, message", [(["10000000000000"], "between 1 and 100"), (["x"], "not a whole number"),
                                            (["0"], "between 1 and 100")])
def test_bad_seed_counts_are_one_readable_line(value, message):
    with pytest.raises(StudySpecError, match=message):
        with_settings(study_preset("table2-digits"), {"seeds": value})


def test_an_unknown_dataset_is_refused_by_the_spec():
    with pytest.raises(ValueError, match="dataset"):
        StudySpec(name="x", dataset="imagenet")

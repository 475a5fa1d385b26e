"""Issue 18, defect 2: one more evaluation of a method broke Paper check and the default
Robustness tables ("not available: two runs for Vanilla with TASER"), with no way to choose runs.
Now the newest evaluation of each cell is used, the page says which, and the choice is a
multiselect kept in the URL (`?runs=`)."""

from __future__ import annotations

import pytest

from taser_engine.evaluation.tables import RunEval, newest_per_slot

pytest.importorskip("streamlit.testing.v1")
from tests.dashboard_support import open_clean_page as open_page  # noqa: E402
from tests.dashboard_support import temporary_database  # noqa: E402

N = 10


def evaluation(taser: bool, robust_right: int) -> dict:
    """A `taser evaluate --json` result of a Vanilla (standard) training, on one fixed subset."""
    clean = [1] * 8 + [0] * 2
    robust = [1] * robust_right + [0] * (N - robust_right)
    accuracy = robust_right / N
    return {"schema": "taser.evaluation/1", "run": {"method": "standard", "taser": taser, "dataset": "digits"},
            "subset": {"dataset": "digits", "fingerprint": "same-points", "n": N, "seed": 0, "split": "test"},
            "n": N, "clean_acc": 0.8, "robust": {"autoattack": accuracy, "spsa": accuracy},
            "robust_avg": accuracy, "attacks": {}, "flags": [],
            "per_sample": {"clean": clean, "autoattack": robust, "spsa": robust}}


def test_newest_per_slot_keeps_the_first_of_each_cell():
    def run(source, taser):
        return RunEval.from_json(evaluation(taser, 3), source)

    kept, left_out = newest_per_slot([run("#3", True), run("#2", True), run("#1", False)])
    assert [r.source for r in kept] == ["#3", "#1"]
    assert [(old.source, new.source) for old, new in left_out] == [("#2", "#3")]


@pytest.fixture(scope="module")
def evaluations(tmp_path_factory):
    """Vanilla without TASER, with TASER, then with TASER once more (newest)."""
    from app.jobs import parse_result
    from db import store

    with temporary_database(tmp_path_factory.mktemp("defect2")):
        ids = {}
        for name, taser, right in (("without", False, 2), ("with-old", True, 4), ("with-new", True, 6)):
            payload = evaluation(taser, right)
            ids[name] = store.record_finished_run("evaluate", {"imported": f"{name}.json"}, payload, name=name,
                                                  evaluations=parse_result("evaluate", payload).evaluation_rows())
        yield ids


def _texts(elements) -> str:
    return " | ".join(item.value for item in elements)


def test_paper_check_draws_our_tables_from_the_newest_evaluation(evaluations):
    at = open_page("paper_check")
    assert "not available: two runs" not in _texts(at.info)
    assert at.multiselect(key="paper.runs").value == [evaluations["with-new"], evaluations["without"]]
    assert f"#{evaluations['with-new']} (Vanilla with TASER)" in _texts(at.caption)
    table2 = [frame.value for frame in at.dataframe if "+TASER" in frame.value.columns]
    assert len(table2) == 2, "our Table 2 was not drawn beside the paper's"
    assert "60.00" in " ".join(map(str, table2[1].iloc[0].tolist()))  # the newest run's 60% robust
    assert at.query_params["runs"] == f"{evaluations['with-new']},{evaluations['without']}"


def test_paper_check_uses_the_runs_chosen_in_the_url(evaluations):
    at = open_page("paper_check", {"runs": f"{evaluations['without']},{evaluations['with-old']}"})
    assert at.multiselect(key="paper.runs").value == [evaluations["without"], evaluations["with-old"]]
    captions = _texts(at.caption)
    assert f"#{evaluations['with-old']} (Vanilla with TASER)" in captions
    assert f"#{evaluations['with-new']} (" not in captions
    table2 = [frame.value for frame in at.dataframe if "+TASER" in frame.value.columns]
    assert len(table2) == 2 and "40.00" in " ".join(map(str, table2[1].iloc[0].tolist()))  # the older run's


def test_robustness_paper_layouts_build_and_say_what_was_left_out(evaluations):
    at = open_page("robustness")
    assert "cannot be built" not in _texts(at.warning)
    captions = _texts(at.caption)
    assert f"#{evaluations['with-old']} with-old, as #{evaluations['with-new']} with-new is a newer" in captions
    assert any(frame.value.shape[0] >= 1 and "+TASER" in frame.value.columns for frame in at.dataframe)
    at = open_page("robustness", {"runs": f"{evaluations['without']},{evaluations['with-old']}"})
    assert at.multiselect(key="robust.runs").value == [evaluations["without"], evaluations["with-old"]]

"""The paper's robustness claims checked against one study's Tables 2 and 3, a verdict each.

The claims are the paper's own words about its Table 2 / 3 (§5 and appendix D); each verdict
counts methods and says whether the interval, not just the point estimate, supports the claim, so
"improves robust avg." reads "yes for 4/6 methods, CI excludes 0 for 3".
"""

from __future__ import annotations

from taser_engine.evaluation.tables import Table, method_title

PAPER_AVG_ROBUST_GAIN_PP = 7.98  # §5: "+7.98 percentage points" over all six objectives
PAPER_AVG_CLEAN_CHANGE_PP = -1.57


def _methods(table: Table) -> list[dict]:
    return [r for r in table.rows if r["method"] not in ("avg", "avg_excl_standard")]


def _row(table: Table, method: str) -> dict | None:
    return next((r for r in table.rows if r["method"] == method), None)


def _pp(delta: dict | None) -> str:
    return "–" if delta is None else f"{100 * delta['delta']:+.2f} [{100 * delta['low']:.2f}, {100 * delta['high']:.2f}]"


def claim_verdicts(table2: Table, table3: Table) -> list[dict]:
    """Rows {claim, paper, ours, verdict} (pure)."""
    verdicts = []
    rows = [r for r in _methods(table2) if r["robust_avg_delta"]]
    if rows:
        gains = [r for r in rows if r["robust_avg_delta"]["delta"] > 0]
        sure = [r for r in rows if r["robust_avg_delta"]["low"] > 0]
        worse = [r for r in rows if r["robust_avg_delta"]["high"] < 0]
        verdicts.append({
            "claim": "TASER improves robust accuracy (avg. of AutoAttack and SPSA) for every training method",
            "paper": "yes for 6/6 methods",
            "ours": f"yes for {len(gains)}/{len(rows)} methods, CI excludes 0 for {len(sure)}"
                    + (f"; CI below 0 for {', '.join(method_title(r['method']) for r in worse)}" if worse else ""),
            "verdict": "supported" if len(sure) == len(rows) else
                       "contradicted" if worse and not sure else "partly supported" if sure else "not shown"})
    average = _row(table2, "avg")
    if average and average["robust_avg_delta"]:
        delta = average["robust_avg_delta"]
        verdicts.append({"claim": "average robust gain over the methods (pp)", "paper": f"+{PAPER_AVG_ROBUST_GAIN_PP:.2f}",
                         "ours": _pp(delta), "verdict": "supported" if delta["low"] > 0 else
                         "contradicted" if delta["high"] < 0 else "within noise"})
    rest = _row(table2, "avg_excl_standard")
    if rest and rest["clean_delta"]:
        delta = rest["clean_delta"]
        includes_zero = delta["low"] <= 0 <= delta["high"]
        verdicts.append({"claim": "clean-accuracy change, excluding the standard model, is not significant",
                         "paper": "yes (CI includes 0)", "ours": _pp(delta),
                         "verdict": "supported" if includes_zero else
                         "contradicted (significant drop)" if delta["high"] < 0 else "contradicted (significant gain)"})
    both = [r for r in _methods(table3) if all(r[s]["autoattack"] is not None and r[s]["spsa"] is not None
                                               for s in ("without", "with"))]
    if both:
        better = [r for r in both if r["with"]["autoattack"] > r["without"]["autoattack"]
                  and r["with"]["spsa"] > r["without"]["spsa"]]
        verdicts.append({"claim": "the gain holds under both attacks (AutoAttack and SPSA) for every method",
                         "paper": "yes for 6/6 methods", "ours": f"both improve for {len(better)}/{len(both)} methods",
                         "verdict": "supported" if len(better) == len(both) else
                                    "partly supported" if better else "not shown"})
    return verdicts

"""Gradient-masking flags a reviewer would ask for, returned with every evaluation.

- `black_box_beats_white_box`: a gradient-free attack (SPSA, Square) finds lower accuracy than the
  gradient-based ones: the gradients the white-box attacks follow are uninformative.
- `accuracy_rises_with_iterations`: APGD-CE with more iterations leaves *more* points robust.
- `autoattack_checks`: AutoAttack's own checks (randomness, softmax outputs, dynamic defence, zero
  gradients, Square beating the white-box attacks), as AutoAttack words them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class MaskingFlag:
    name: str
    raised: bool
    checked: bool
    detail: str
    values: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def black_box_flag(accuracy: dict[str, float], black_box: set[str], only_black_box_broke: dict[str, int],
                   tolerance: float) -> MaskingFlag:
    name = "black_box_beats_white_box"
    white = {k: v for k, v in accuracy.items() if k not in black_box}
    black = {k: v for k, v in accuracy.items() if k in black_box}
    if not white or not black:
        return MaskingFlag(name, False, False, "needs one black-box and one white-box attack")
    best_white = min(white, key=white.get)
    beaten = {k: v for k, v in black.items() if v < white[best_white] - tolerance}
    detail = (f"{', '.join(beaten)} below {best_white} ({white[best_white]:.3f}) by more than {tolerance}"
              if beaten else f"no black-box attack below {best_white} ({white[best_white]:.3f})")
    return MaskingFlag(name, bool(beaten), True, detail,
                       {"white_box": white, "black_box": black, "points_only_black_box_broke": only_black_box_broke})


def iterations_flag(by_iterations: dict[int, float] | None, tolerance: float) -> MaskingFlag:
    name = "accuracy_rises_with_iterations"
    if not by_iterations:
        return MaskingFlag(name, False, False, "iteration check not run")
    fewer, more = sorted(by_iterations)
    rise = by_iterations[more] - by_iterations[fewer]
    detail = (f"APGD-CE robust accuracy {by_iterations[fewer]:.3f} at {fewer} iterations, "
              f"{by_iterations[more]:.3f} at {more}")
    return MaskingFlag(name, rise > tolerance, True, detail,
                       {"apgd_ce_accuracy_by_iterations": {str(k): v for k, v in by_iterations.items()}})


def autoattack_flag(messages: dict[str, list[str]]) -> MaskingFlag:
    name = "autoattack_checks"
    if not messages:
        return MaskingFlag(name, False, False, "no AutoAttack attack was run")
    found = {k: v for k, v in messages.items() if v}
    detail = "; ".join(f"{k}: {m}" for k, ms in found.items() for m in dict.fromkeys(ms)) or "no warnings"
    return MaskingFlag(name, bool(found), True, detail, {"warnings": messages})

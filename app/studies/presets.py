"""Named studies: the paper's Table 2 and the questions that follow it, as `StudySpec`s.

Every digits preset starts from the `digits-cpu` training recipe (`taser_engine.training.presets`)
and evaluates with AutoAttack and SPSA on the whole digits test split (360 points, ε = 0.1), the
same points for every run, so runs pair by point as well as by seed. The digits models converge
in a few epochs, hence far fewer than the paper's 200; `TABLE2_DIGITS_EPOCHS` is provisional: the
time a preset takes on a 2-core CPU has not been measured yet.
"""

from __future__ import annotations

from taser_engine.training.presets import PRESETS

from app.studies.spec import StudySpec

DIGITS_TRAIN = dict(PRESETS["digits-cpu"]["train"])
DIGITS_FINETUNE = dict(PRESETS["digits-cpu"]["finetune"])
DIGITS_EVALUATE = {"n_eval": 1000}  # more than the test split: the whole split, 360 points
TABLE2_DIGITS_EPOCHS = 4
LAMBDAS = [0.003, 0.01, 0.03, 0.1, 0.3]


def _table2_digits() -> StudySpec:
    return StudySpec(name="Table 2 on digits", train={**DIGITS_TRAIN, "epochs": TABLE2_DIGITS_EPOCHS},
                     evaluate=DIGITS_EVALUATE)


def _lambda_sweep_digits() -> StudySpec:
    return StudySpec(name="λ sweep on digits", methods=["standard", "pgd"],
                     train={**DIGITS_TRAIN, "epochs": TABLE2_DIGITS_EPOCHS}, evaluate=DIGITS_EVALUATE,
                     sweep={"taser_lambda": LAMBDAS})


def _finetune_digits() -> StudySpec:
    # the paper's second protocol: fine-tune a trained model with TASER, plain and with a 2-step
    # adversarial "lite" base loss, over λ
    return StudySpec(name="TASER fine-tuning on digits", protocol="finetune", methods=["standard", "pgd"],
                     train={**DIGITS_TRAIN, "epochs": TABLE2_DIGITS_EPOCHS}, finetune=DIGITS_FINETUNE,
                     evaluate=DIGITS_EVALUATE,
                     sweep={"adversarial_lite_steps": [None, 2], "taser_lambda": [0.003, 0.03, 0.3]})


def _table2_cifar10() -> StudySpec:
    # C.5: ResNet-18, 200 epochs, Adam 1e-3 cosine, λ = 1; C.6: AutoAttack and SPSA (nb_iter 32,
    # nb_sample 128) at ε = 8/255 on a fixed 1000-point subset; the score from a diffusion model
    return StudySpec(name="Table 2 on CIFAR-10 (paper C.5)", dataset="cifar10",
                     train=dict(PRESETS["paper-cifar10"]["train"]), evaluate={"n_eval": 1000},
                     score_model={"dataset": "cifar10"})


STUDY_PRESETS = {
    "table2-digits": _table2_digits,
    "lambda-sweep-digits": _lambda_sweep_digits,
    "finetune-digits": _finetune_digits,
    "table2-cifar10": _table2_cifar10,
}


def study_preset(name: str) -> StudySpec:
    if name not in STUDY_PRESETS:
        raise KeyError(f"unknown study preset {name!r}; known: {', '.join(STUDY_PRESETS)}")
    return STUDY_PRESETS[name]()

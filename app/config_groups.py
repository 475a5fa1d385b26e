"""Where a config field sits on the Launch form and what the form calls it, as data.

`app.config_fields` says what a field is (type, default, bounds); this table says how a person
finds it: job configs share field names (`epochs`, `batch_size`, `dataset` mean the same in every
kind), so one table per field name serves every kind, with per-kind exceptions where a shared name
means something else (an evaluation's `batch_size` is a resource, not an optimisation setting).
Within a group, fields come in the table's order. A field in no group lands in "other", so a
field added to a config is shown, never lost.
"""

from __future__ import annotations

# In form order. "inputs" (the runs a job reads, and the TASER switch) comes first, without a
# heading: it decides what the rest of the form means.
GROUPS = ("inputs", "data", "model", "method", "TASER", "optimisation", "evaluation", "resources", "other")
GROUP_TITLES = {"inputs": "", "data": "Data", "model": "Model", "method": "Method", "TASER": "TASER",
                "optimisation": "Optimisation", "evaluation": "Evaluation", "resources": "Resources",
                "other": "Other settings"}

FIELD_GROUPS: dict[str, tuple[str, ...]] = {
    "inputs": ("taser", "model_run", "source_run"),
    "data": ("dataset", "data_root", "download", "max_train_samples", "max_test_samples", "augment",
             "random_flip", "distribution", "target", "n_train", "n_test", "n"),
    "model": ("arch", "activation", "width", "depth", "models", "activations", "batchnorm", "freeze_batchnorm",
              "block_out_channels", "layers_per_block", "prediction_type"),
    "method": ("method", "epsilon", "step_size", "num_steps", "beta", "trades_forwards", "lambda_mart",
               "awp_gamma", "awp_warmup", "method_params", "adversarial_lite_steps", "alpha", "methods",
               "regularisers", "lambdas", "stein_centering", "laplacians", "num_probes", "fractions", "scores"),
    "TASER": ("score_model_run", "score", "score_model", "score_timestep", "score_cache", "taser_lambda",
              "lambda_warmup_fraction", "penalty"),
    "optimisation": ("epochs", "steps", "batch_size", "optimizer", "lr", "lr_min", "lr_schedule", "momentum",
                     "weight_decay", "eta_max", "eta_min", "lr_warmup_fraction", "warmup_steps", "ema_decay",
                     "num_train_timesteps", "beta_start", "beta_end", "max_train_timestep", "step_s", "x0",
                     "seed", "base_seed"),
    "evaluation": ("n_eval", "subset_seed", "attacks", "attack_params", "eps_linf", "eps_l2", "attack_seed",
                   "spsa_nb_iter", "spsa_nb_sample", "spsa_lr", "spsa_delta", "apgd_n_iter", "square_n_queries",
                   "iteration_check", "masking_tolerance", "eval_batch_size", "heldout_timestep", "grid_min",
                   "grid_max", "grid_points", "examples", "warmup", "repeats", "reference_samples"),
    "resources": ("device", "devices", "gpus", "amp", "cpu_threads", "checkpoint_every_steps", "checkpoint_every",
                  "log_every_steps", "cooperative", "fail_at_step"),
}

# kind -> fields its config validator fills in from a run reference (a fine-tune's `source` folder
# from its `source_run`): not drawn, passed on as the preset or the cloned config has them.
FILLED_IN: dict[str, tuple[str, ...]] = {"finetune": ("source",)}

# kind -> {field: group} where a shared name means something else in that kind
KIND_GROUPS: dict[str, dict[str, str]] = {
    "evaluate": {"batch_size": "resources"},
    "alignment": {"n": "evaluation", "seed": "evaluation"},
    "bench-overhead": {"batch_size": "evaluation", "seed": "evaluation"},
    "bench-train-step": {"batch_size": "evaluation", "digits_batch_size": "evaluation", "seed": "evaluation",
                         "num_steps": "method"},
}

# Labels where the field name, read with spaces, is not what a researcher would call it. The field
# name itself stays in each widget's help, with its command-line flag.
LABELS = {
    "taser": "TASER penalty", "model_run": "model run", "source_run": "run to fine-tune",
    "score_model_run": "score-model run", "data_root": "data folder", "download": "download the dataset",
    "max_train_samples": "training samples (at most)", "max_test_samples": "test samples (at most)",
    "augment": "augmentation", "n_train": "training samples", "n_test": "test samples", "n": "images",
    "arch": "architecture", "freeze_batchnorm": "freeze BatchNorm", "batchnorm": "BatchNorm",
    "block_out_channels": "UNet widths",
    "epsilon": "ε (L∞ budget)", "num_steps": "attack steps", "beta": "TRADES β",
    "trades_forwards": "TRADES forwards", "lambda_mart": "MART λ", "awp_gamma": "AWP γ",
    "awp_warmup": "AWP from epoch", "method_params": "method parameters (JSON)",
    "adversarial_lite_steps": "adversarial-lite steps", "alpha": "teacher KL weight α",
    "lambdas": "λ grid", "num_probes": "probes", "score_model": "score model",
    "score_timestep": "score timestep τ", "taser_lambda": "TASER λ_max",
    "lambda_warmup_fraction": "λ warm-up fraction", "optimizer": "optimiser", "lr": "learning rate",
    "lr_min": "final learning rate", "lr_schedule": "learning-rate schedule", "eta_max": "peak learning rate η_max",
    "eta_min": "final learning rate η_min", "lr_warmup_fraction": "learning-rate warm-up fraction",
    "step_s": "seconds per step", "x0": "x₀", "n_eval": "evaluation examples (N_eval)",
    "attack_params": "attack parameters (JSON)", "eps_linf": "L∞ budget ε", "eps_l2": "L2 budget ε",
    "spsa_nb_iter": "SPSA iterations", "spsa_nb_sample": "SPSA samples per iteration", "spsa_lr": "SPSA step",
    "spsa_delta": "SPSA finite-difference step", "apgd_n_iter": "APGD-CE iterations",
    "square_n_queries": "Square queries", "iteration_check": "iteration check (fewer, more)",
    "eval_batch_size": "evaluation batch size", "amp": "bfloat16 autocast (AMP)", "gpus": "processes (GPUs)",
    "cpu_threads": "CPU threads", "checkpoint_every_steps": "checkpoint every N steps",
    "checkpoint_every": "checkpoint every N epochs", "log_every_steps": "log every N steps",
    "cooperative": "honour cancel requests", "fail_at_step": "fail at step (test)",
}

_GROUP_OF = {name: group for group, names in FIELD_GROUPS.items() for name in names}


def group_of(name: str, kind: str = "") -> str:
    """The form group of field `name` in job kind `kind` ("other" when the table does not place it)."""
    return KIND_GROUPS.get(kind, {}).get(name) or _GROUP_OF.get(name, "other")


def place_in_group(name: str, group: str) -> int:
    """Where `name` comes within its group: the table's order, fields it does not list last (in
    declaration order, as sorting is stable)."""
    names = FIELD_GROUPS.get(group, ())
    return names.index(name) if name in names else len(names)


def label_of(name: str) -> str:
    return LABELS.get(name) or name.replace("_", " ")

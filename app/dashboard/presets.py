"""Named starting points for the Launch forms, per job kind.

Built-in presets for the kinds this app owns, plus the engine's training presets
(`taser_engine.training.presets.PRESETS[preset][kind]`: the paper's CIFAR-10 protocol and the CPU
digits demo), which are not repeated here. A preset only sets the fields it names; everything else
keeps the config's defaults. Labels say what a preset is, not where it came from: the config
defaults train on digits with some of the paper's hyper-parameters, which is not the paper's setting.
"""

from __future__ import annotations

from typing import Any

DEFAULTS = "config defaults"

BUILTIN: dict[str, dict[str, dict[str, Any]]] = {
    "toy1d": {
        "CPU quick look (2 seeds, 600 steps)": {"seeds": 2, "epochs": 600},
        "Gaussian mixture inputs": {"distribution": "mixture"},
    },
    "bench-overhead": {
        "quick: small CNN on CPU": {"models": ["small_cnn"], "devices": ["cpu"], "warmup": 1, "repeats": 3},
        "ResNet-18 only (the paper's model)": {"models": ["resnet18"]},
    },
    "count": {"fast (10 steps)": {"steps": 10, "step_s": 0.02}},
}

ENGINE_PRESET_LABELS = {"paper-cifar10": "paper hyper-parameters (CIFAR-10 scale: ResNet-18, 200 epochs)",
                        "digits-cpu": "digits quick (small CNN on a CPU)"}


def presets_for(kind: str) -> dict[str, dict[str, Any]]:
    """{label: overrides} for `kind`, defaults first."""
    found: dict[str, dict[str, Any]] = {DEFAULTS: {}}
    found.update(BUILTIN.get(kind, {}))
    found.update(_engine_presets(kind))
    return found


def _engine_presets(kind: str) -> dict[str, dict[str, Any]]:
    from taser_engine.training.presets import PRESETS

    return {ENGINE_PRESET_LABELS.get(name, name): dict(by_kind[kind])
            for name, by_kind in PRESETS.items() if isinstance(by_kind, dict) and kind in by_kind}


def apply_preset(config_class, overrides: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Default values of every field with the preset applied; also the preset keys the class lacks."""
    fields = config_class.model_fields
    values: dict[str, Any] = {}
    for name, info in fields.items():
        if not info.is_required():
            default = info.get_default(call_default_factory=True)
            values[name] = default.model_dump(mode="json") if hasattr(default, "model_dump") else default
    unknown = [key for key in overrides if key not in fields]
    values.update({key: value for key, value in overrides.items() if key in fields})
    return values, unknown

"""Property-based fuzzing of every job kind's config: bad input is a validation error, never a crash.

For each registered kind, hypothesis builds JSON-like dicts from the kind's own field names (and
some junk keys) with values of every JSON type, NaN and infinities included. Validation must
either accept the dict, giving a config that survives the JSON round trip the queue stores it
through, or raise `JobConfigError` naming a field.
"""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.jobs import JOB_KINDS, JobConfigError, get_kind, validate_config

# configs referring to runs by id need a run folder; point the artifact root at an empty one


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**12, max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
)
values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=3), st.dictionaries(st.text(max_size=6), children, max_size=3)), max_leaves=6)


def configs_for(kind: str):
    fields = list(get_kind(kind).config_class.model_fields)
    keys = st.one_of(st.sampled_from(fields), st.text(max_size=8))
    return st.dictionaries(keys, values, max_size=6)


@pytest.fixture(autouse=True)
def _empty_artifact_root(tmp_path, monkeypatch):
    monkeypatch.setenv("TASER_ARTIFACT_ROOT", str(tmp_path))


@pytest.mark.parametrize("kind", sorted(JOB_KINDS))
def test_fuzzed_configs_validate_or_fail_cleanly(kind):
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(configs_for(kind))
    def check(raw):
        try:
            config = validate_config(kind, raw)
        except JobConfigError as exc:
            assert str(exc).startswith(f"invalid {kind} config") or "bad config" in str(exc) or str(exc)
            return
        stored = json.loads(json.dumps(config.model_dump(mode="json"), allow_nan=False))
        assert validate_config(kind, stored).model_dump(mode="json") == stored

    check()


def _float_fields(model_class, prefix=""):
    from pydantic import BaseModel

    for name, field in model_class.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _float_fields(annotation, f"{prefix}{name}.")
        elif "float" in str(annotation) or annotation is float:
            yield f"{prefix}{name}"


@pytest.mark.parametrize("kind", sorted(JOB_KINDS))
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_refused_in_every_float_field(kind, bad):
    for path in _float_fields(get_kind(kind).config_class):
        raw: dict = {}
        node = raw
        *parents, leaf = path.split(".")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = bad
        with pytest.raises(JobConfigError, match=leaf):
            validate_config(kind, raw)

"""Uploaded models: size-limited, validated, refused when unsafe, usable by id once imported."""

import pickle

import pytest
import torch
from safetensors.torch import save as save_tensors

from app.imports import MAX_SPEC_BYTES, ImportRejected, import_model
from taser_engine.checkpoints import load_model
from taser_engine.models import ModelSpec, build_model




def _upload():
    model = build_model(ModelSpec(width=4))
    return model, save_tensors({k: v.contiguous() for k, v in model.state_dict().items()}), \
        model.spec.model_dump_json().encode()


def test_a_valid_upload_becomes_a_run_that_loads_by_id(queue_db):
    from app.paths import run_dir_for
    from db.store import get_run

    model, weights, spec = _upload()
    run_id = import_model("net.safetensors", weights, spec, "digits", "standard", taser=False)
    assert get_run(run_id)["status"] == "succeeded"
    x = torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(load_model(run_dir_for(run_id))(x), model.eval()(x))


class _Evil:
    def __reduce__(self):
        return (print, ("code ran",))


@pytest.mark.parametrize("name, weights, spec, reason", [
    ("net.exe", b"x", b"{}", "weights must be"),
    ("net.safetensors", b"not safetensors", None, "corrupted or truncated"),
    ("net.pt", pickle.dumps({"w": _Evil()}, protocol=2), None, "refused"),
    ("net.safetensors", None, b'{"arch": "vgg"}', "not a valid model description"),
    ("net.safetensors", None, b" " * (MAX_SPEC_BYTES + 1), "over"),
])
def test_bad_uploads_are_rejected_with_a_reason_and_record_nothing(queue_db, name, weights, spec, reason):
    from db.store import list_runs

    _, good_weights, good_spec = _upload()
    with pytest.raises(ImportRejected, match=reason):
        import_model(name, weights if weights is not None else good_weights,
                     spec if spec is not None else good_spec, "digits")
    assert list_runs(light=True) == []


def test_a_rejected_upload_names_the_file_and_the_reason_not_a_temporary_path(queue_db):
    import tempfile

    _, weights, _ = _upload()
    wider = ModelSpec(width=8).model_dump_json().encode()
    for name, data, spec, reason in (("my net.safetensors", weights, wider, "does not match the architecture"),
                                     ("net.pt", b"junk", wider, "corrupted or truncated"),
                                     ("net.pt", pickle.dumps({"w": _Evil()}, protocol=2), wider, "refused")):
        with pytest.raises(ImportRejected) as info:
            import_model(name, data, spec, "digits")
        message = str(info.value)
        assert name in message and reason in message
        assert tempfile.gettempdir() not in message and "upload" not in message, message


def test_an_oversize_model_description_is_refused_before_anything_is_built(queue_db):
    _, weights, _ = _upload()
    with pytest.raises(ImportRejected, match="width: Input should be less than or equal to 512"):
        import_model("net.safetensors", weights, b'{"width": 1000000000}', "digits")

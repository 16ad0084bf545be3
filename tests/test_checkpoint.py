"""Checkpoint format: metadata, strict loading, and refusal of pickles."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from spoofscope.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_model,
    read_metadata,
    save_checkpoint,
)
from spoofscope.models import build_model, get_spec


def small_aasist():
    torch.manual_seed(0)
    return build_model("aasist", **get_spec("aasist").tiny)


def test_directory_layout_has_readable_metadata(tmp_path):
    model = small_aasist()
    out = save_checkpoint(model, tmp_path / "ck", calibration={"a": 1.5, "b": -0.2})
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["model"] == "aasist"
    assert meta["sample_rate"] == 16000 and meta["segment_samples"] == 64600
    assert meta["calibration"] == {"a": 1.5, "b": -0.2}
    assert meta["config"]["gat_dims"] == [8, 8]
    assert read_metadata(out) == meta


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nope.safetensors")


def test_wrong_suffix_is_refused(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"\0" * 64)
    with pytest.raises(CheckpointError, match="unsupported checkpoint type"):
        load_model(path)


def test_corrupt_safetensors_is_refused(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"this is not a safetensors file at all")
    with pytest.raises(CheckpointError):
        load_model(path)


def test_weights_that_do_not_fit_are_refused(tmp_path):
    model = small_aasist()
    target = save_checkpoint(model, tmp_path / "ck.safetensors")
    from safetensors.torch import load_file, save_file

    state = load_file(str(target))
    meta = read_metadata(target)
    dropped = sorted(state)[0]
    del state[dropped]
    save_file(state, str(target), metadata={"spoofscope": json.dumps(meta)})
    with pytest.raises(CheckpointError, match=f"missing .*{dropped}"):
        load_checkpoint(target)


class _Boom:
    """An object whose unpickling would run code."""

    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


def test_malicious_pickle_is_refused_and_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pth"
    with open(path, "wb") as handle:
        torch.save({"weight": torch.zeros(2), "payload": _Boom()}, handle)
    with pytest.raises(CheckpointError, match="unpickl"):
        load_model(path)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_plain_pickle_file_is_refused(tmp_path):
    path = tmp_path / "evil2.pt"
    path.write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(CheckpointError):
        load_model(path)
    assert not (tmp_path / "PWNED").exists()

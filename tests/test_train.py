"""Training: schedules, losses, end-to-end runs (neural and GMM), exact resume, bad files,
fine-tuning the official AASIST-L weights with frozen layers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from spoofscope.checkpoint import load_checkpoint, load_model
from spoofscope.cli import main
from spoofscope.config_io import load_config
from spoofscope.data.manifest import Utterance, write_manifest
from spoofscope.errors import SpoofscopeError
from spoofscope.losses import OCSoftmax, class_weights, find_classifier
from spoofscope.models import build_model, get_spec
from spoofscope.schedules import LRSchedule
from spoofscope.train import run_training
from spoofscope.train_config import TrainConfig
from spoofscope.train_eval import state_hash

SR = 16000


def make_task(root: Path, n_train: int = 24, n_dev: int = 16, seed: int = 0) -> dict[str, Path]:
    """A separable synthetic task: bona fide = jittered harmonic tones over faint noise,
    spoof = noise band-limited to 1.5-3.5 kHz. Writes wavs and train/dev manifests."""
    rng = np.random.default_rng(seed)

    def bona(n: int) -> np.ndarray:
        t = np.arange(n) / SR
        f0 = rng.uniform(110, 240) * (1 + 0.01 * np.sin(2 * np.pi * rng.uniform(2, 6) * t))
        phase = 2 * np.pi * np.cumsum(f0) / SR
        x = sum(np.sin(k * phase) / k for k in range(1, 8))
        return 0.3 * x / np.abs(x).max() + 0.01 * rng.normal(size=n)

    def spoof(n: int) -> np.ndarray:
        spec = np.fft.rfft(rng.normal(size=n))
        f = np.fft.rfftfreq(n, 1 / SR)
        spec[(f < 1500) | (f > 3500)] = 0
        x = np.fft.irfft(spec, n)
        return 0.3 * x / np.abs(x).max()

    out = {}
    for split, count in (("train", n_train), ("dev", n_dev)):
        utts = []
        for i in range(count):
            label = "bonafide" if i % 2 == 0 else "spoof"
            n = int(rng.uniform(0.5, 1.2) * SR)
            x = (bona if label == "bonafide" else spoof)(n).astype(np.float32)
            path = root / split / f"{split}{i:03d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, x, SR)
            utts.append(Utterance(f"{split}{i:03d}", str(path), label, f"synth/{split}"))
        out[split] = root / f"{split}.jsonl"
        write_manifest(utts, out[split])
    return out


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> object:
    """One intra-op thread: on a shared 2-core machine, OpenMP threads that wait for each
    other make small models many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_task(tmp_path_factory.mktemp("task"))


def tiny_config(task: dict[str, Path], model: str = "rawnet2-lite", **extra: object) -> dict:
    cfg = {
        "model": {"name": model, "overrides": dict(get_spec(model).tiny)},
        "data": {
            "train": str(task["train"]),
            "dev": str(task["dev"]),
            "segment_samples": 16000,
            "batch_size": 8,
            "workers": 0,
        },
        "optim": {"lr": 3e-3, "weight_decay": 0.0},
        "epochs": 3,
        "seed": 3,
    }
    cfg.update(extra)
    return cfg


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def read_metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


# --- schedules and losses -------------------------------------------------------------


def _opt(lr: float = 1.0) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def test_warmup_cosine_schedule() -> None:
    opt = _opt()
    sched = LRSchedule(opt, "warmup-cosine", total_steps=100, warmup_steps=10, min_lr=0.1)
    lrs = []
    for _ in range(100):
        lrs.append(sched.current_lr())
        sched.step()
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)  # linear warm-up
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))  # then decays
    assert lrs[55] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert sched.current_lr() == pytest.approx(0.1)  # floor at the end
    assert LRSchedule(_opt(), "warmup-cosine", total_steps=200).warmup_steps == 10  # 5 %
    with pytest.raises(ValueError, match="valid choices"):
        LRSchedule(_opt(), "step", 10)


def test_plateau_schedule_and_state() -> None:
    opt = _opt()
    sched = LRSchedule(opt, "plateau", 10, plateau_factor=0.5, plateau_patience=1)
    for metric in (0.3, 0.2, 0.25, 0.25):
        sched.epoch_end(metric)
    assert sched.current_lr() == pytest.approx(0.5)  # 2 bad epochs > patience 1
    again = LRSchedule(_opt(), "plateau", 10, plateau_factor=0.5, plateau_patience=1)
    again.load_state_dict(sched.state_dict())
    assert again.current_lr() == pytest.approx(0.5) and again.best == pytest.approx(0.2)


def test_class_weights_and_oc_softmax() -> None:
    w = class_weights("inverse-frequency", (90, 10))
    torch.testing.assert_close(w, torch.tensor([100 / 180, 100 / 20]))
    assert class_weights("none", (1, 1)) is None
    torch.testing.assert_close(class_weights([0.1, 0.9], (1, 1)), torch.tensor([0.1, 0.9]))
    oc = OCSoftmax(4)
    center = torch.nn.functional.normalize(oc.center.detach(), dim=1)
    target = torch.tensor([1, 0])
    good = oc(torch.cat([center * 3, -center]), target)  # bona on w, spoof opposite
    bad = oc(torch.cat([-center, center * 3]), target)
    sp = torch.nn.functional.softplus
    expect_good = (sp(torch.tensor(20 * (0.9 - 1.0))) + sp(torch.tensor(20 * (-1.0 - 0.2)))) / 2
    expect_bad = (sp(torch.tensor(20 * (0.9 + 1.0))) + sp(torch.tensor(20 * (1.0 - 0.2)))) / 2
    torch.testing.assert_close(good.detach(), expect_good)
    torch.testing.assert_close(bad.detach(), expect_bad)
    assert len(oc.describe()["center"]) == 4


@pytest.mark.parametrize(("name", "head"), [("lcnn", "output"), ("rawnet2-lite", "fc2")])
def test_find_classifier(name: str, head: str) -> None:
    assert find_classifier(build_model(name, **get_spec(name).tiny)) == head


# --- end to end -------------------------------------------------------------------------


def test_train_end_to_end_via_cli(
    task: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg_path = write_config(tmp_path / "run.yaml", tiny_config(task))
    out = tmp_path / "out"
    assert main(["train", str(cfg_path), "--out", str(out), "--set", "epochs=4"]) == 0
    assert "dev EER" in capsys.readouterr().out
    for name in ("best.safetensors", "last.safetensors", "metrics.jsonl", "train_state.pt"):
        assert (out / name).is_file(), name
    lines = read_metrics(out)
    assert [r["epoch"] for r in lines] == [1, 2, 3, 4]
    assert lines[-1]["step"] == 4 * 3 and all(r["skipped_train"] == 0 for r in lines)
    best = min(r["dev_eer"] for r in lines)
    assert lines[-1]["dev_eer"] < 0.2, lines  # the stated bound for this separable task
    assert all(r["dev_items"] == 16 for r in lines)
    assert lines[-1]["train_loss"] < lines[0]["train_loss"]
    resolved = load_config(TrainConfig, out / "resolved_config.yaml")
    assert resolved.epochs == 4 and resolved.data.segment_samples == 16000
    model, meta = load_checkpoint(out / "best.safetensors")
    assert model.name == "rawnet2-lite"
    card = meta["data_card"]
    assert card["train"]["count"] == 24 and card["dev"]["labels"] == {"bonafide": 8, "spoof": 8}
    assert card["train"]["manifest"] == str(task["train"].resolve())
    assert meta["extra"]["training"]["dev_eer"] == pytest.approx(best)
    # an existing run is not overwritten without --resume
    assert main(["train", str(cfg_path), "--out", str(out)]) == 2


def test_resume_continues_exactly(task: dict[str, Path], tmp_path: Path) -> None:
    """2 epochs straight == 1 epoch, interruption, --resume; OC-softmax, warm-up, workers."""
    extra = {"loss": {"name": "oc-softmax"}, "schedule": {"name": "warmup-cosine"}}
    cfg_dict = tiny_config(task, epochs=2, **extra)
    cfg_dict["data"]["workers"] = 2
    cfg = load_config(TrainConfig, write_config(tmp_path / "c.yaml", cfg_dict))
    run_training(cfg, tmp_path / "a")

    class Interrupt(Exception):
        pass

    def stop_after_first(record: dict) -> None:
        if record["epoch"] == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_training(cfg, tmp_path / "b", on_epoch=stop_after_first)
    assert len(read_metrics(tmp_path / "b")) == 1
    summary = run_training(cfg, tmp_path / "b", resume=True)
    assert summary["epochs"] == 2
    a, meta = load_checkpoint(tmp_path / "a" / "last.safetensors")
    b, _ = load_checkpoint(tmp_path / "b" / "last.safetensors")
    assert state_hash(a) == state_hash(b)
    assert (
        read_metrics(tmp_path / "a")[1]["train_loss"]
        == read_metrics(tmp_path / "b")[1]["train_loss"]
    )
    assert len(meta["extra"]["oc_softmax"]["center"]) == a.fc2.in_features


def test_unreadable_training_file_is_skipped(
    task: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = task["train"].read_text().splitlines()
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio at all")
    extra = [
        Utterance("broken", str(broken), "spoof").to_json(),
        Utterance("missing", str(tmp_path / "nope.flac"), "bonafide").to_json(),
    ]
    manifest = tmp_path / "train.jsonl"
    manifest.write_text("\n".join(lines + [json.dumps(e) for e in extra]) + "\n")
    config = write_config(tmp_path / "c.yaml", tiny_config(task))
    args = ["--set", f"data.train={manifest}", "--set", "epochs=2", "--out", str(tmp_path / "o")]
    assert main(["train", str(config), *args]) == 0
    captured = capsys.readouterr()
    assert "skipped unreadable files: 4 train, 0 dev" in captured.err  # 2 files x 2 epochs
    assert '"train": 4' in captured.out  # the JSON summary
    lines = read_metrics(tmp_path / "o")
    assert [r["skipped_train"] for r in lines] == [2, 2]
    assert [r["train_items"] + r["skipped_train"] for r in lines] == [24, 24]  # 3 full batches


def test_gmm_trains_through_the_same_command(task: dict[str, Path], tmp_path: Path) -> None:
    cfg = tiny_config(task, model="lfcc-gmm")
    cfg["model"]["overrides"] = {"n_components": 4, "max_iter": 5}
    out = tmp_path / "gmm"
    assert main(["train", str(write_config(tmp_path / "g.yaml", cfg)), "--out", str(out)]) == 0
    (record,) = read_metrics(out)
    assert record["dev_eer"] < 0.2 and record["skipped_train"] == 0
    model, meta = load_checkpoint(out / "best.safetensors")
    assert model.is_fitted and meta["data_card"]["train"]["count"] == 24
    assert (out / "last.safetensors").is_file() and (out / "resolved_config.yaml").is_file()
    assert main(["train", str(tmp_path / "g.yaml"), "--out", str(out), "--resume"]) == 0


def test_finetune_official_aasist_l_with_frozen_backbone(
    task: dict[str, Path], tmp_path: Path, reference_dir: Path
) -> None:
    official = reference_dir / "aasist" / "AASIST-L.pth"
    before = load_model(official).state_dict()
    cfg = load_config(TrainConfig, None, [
        f"init_from={official}", "freeze=all-but-classifier", f"data.train={task['train']}",
        "model.overrides.nb_samp=4000", "data.batch_size=4", "data.workers=0", "max_steps=2",
        "optim.lr=0.01", "schedule.name=none",
    ])  # fmt: skip
    summary = run_training(cfg, tmp_path / "ft")
    assert summary["steps"] == 2 and summary["best_eer"] is None  # no dev set: last only
    assert not (tmp_path / "ft" / "best.safetensors").exists()
    after, meta = load_checkpoint(tmp_path / "ft" / "last.safetensors")
    assert after.name == "aasist-l" and meta["data_card"]["dev"] is None
    assert after.segment_samples == 4000 == meta["data_card"]["segment_samples"]  # override
    changed = {k for k, v in after.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"classifier.weight", "classifier.bias"}


def test_setup_errors_are_clear(task: dict[str, Path], tmp_path: Path) -> None:
    base = write_config(tmp_path / "c.yaml", tiny_config(task))
    cases = [
        (["model.name=nope"], "valid choices"),
        (["model.overrides.no_such=1"], "valid keys"),
        (["freeze=[no_such_layer]"], "top-level modules"),
        ([f"init_from={tmp_path / 'missing.safetensors'}"], "not found"),
        (["data.segment_samples=100"], "shorter than"),
    ]
    for overrides, needle in cases:
        cfg = load_config(TrainConfig, base, overrides)
        with pytest.raises(SpoofscopeError, match=needle):
            run_training(cfg, tmp_path / "x")
    one_class = tmp_path / "bona.jsonl"
    one_class.write_text(task["dev"].read_text().splitlines()[0] + "\n")
    with pytest.raises(SpoofscopeError, match="both bonafide and spoof"):
        run_training(load_config(TrainConfig, base, [f"data.dev={one_class}"]), tmp_path / "y")
    with pytest.raises(SpoofscopeError, match="no train_state.pt"):
        run_training(load_config(TrainConfig, base), tmp_path / "z", resume=True)


def test_early_stopping_best_checkpoint_and_plateau(
    task: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scripted dev EERs: the best epoch is kept, the plateau halves the rate, training
    stops after ``patience`` epochs without improvement."""
    from spoofscope import train_eval

    eers = iter([0.3, 0.2, 0.25, 0.2, 0.1, 0.5, 0.4])
    monkeypatch.setattr(
        train_eval.DevEvaluator,
        "__call__",
        lambda self, model: train_eval.DevResult(next(eers), 16, 0),
    )
    cfg = load_config(TrainConfig, write_config(tmp_path / "c.yaml", tiny_config(task)), [
        "epochs=10", "patience=2", "max_steps=20", "schedule.name=plateau",
        "schedule.plateau_patience=0", "optim.lr=0.001", "data.train_crop=first",
    ])  # fmt: skip
    summary = run_training(cfg, tmp_path / "out")
    assert summary["stop_reason"] == "early stopping" and summary["epochs"] == 4
    assert summary["best_eer"] == 0.2 and summary["best_epoch"] == 2
    lines = read_metrics(tmp_path / "out")
    assert [r["best_eer"] for r in lines] == [0.3, 0.2, 0.2, 0.2]
    assert [r["lr"] for r in lines] == pytest.approx([1e-3, 1e-3, 5e-4, 2.5e-4])
    _, meta = load_checkpoint(tmp_path / "out" / "best.safetensors")
    assert meta["extra"]["training"]["epoch"] == 2
    # resuming a finished run trains no further, unless the limits change
    assert run_training(cfg, tmp_path / "out", resume=True)["epochs"] == 4
    more = load_config(TrainConfig, tmp_path / "out" / "resolved_config.yaml", ["patience=5"])
    again = run_training(more, tmp_path / "out", resume=True)  # 0.1, 0.5, then step 20
    assert again["stop_reason"] == "max_steps" and again["epochs"] == 7
    assert again["best_eer"] == 0.1 and again["best_epoch"] == 5
    assert [r["step"] for r in read_metrics(tmp_path / "out")] == [3, 6, 9, 12, 15, 18, 20]


def test_lcnn_full_length_dev_and_max_steps(task: dict[str, Path], tmp_path: Path) -> None:
    cfg = load_config(TrainConfig, write_config(tmp_path / "c.yaml", tiny_config(task, "lcnn")), [
        "data.dev_crop=full", "data.eval_batch_size=5", "max_steps=2", "optim.name=adamw",
        "data.workers=1",
    ])  # fmt: skip
    summary = run_training(cfg, tmp_path / "out")
    assert summary["steps"] == 2 and summary["stop_reason"] == "max_steps"
    (record,) = read_metrics(tmp_path / "out")
    assert record["dev_items"] == 16 and record["dev_eer"] is not None


def test_freeze_prefixes_and_frozen_batchnorm() -> None:
    from spoofscope.train_setup import apply_freeze, set_frozen_bn_eval

    model = build_model("rawnet2-lite", **get_spec("rawnet2-lite").tiny)
    frozen = apply_freeze(model, ["blocks", "first_bn"])
    assert frozen and all(n.startswith(("blocks.", "first_bn.")) for n in frozen)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and not trainable & set(frozen) and "fc2.weight" in trainable
    model.train()
    set_frozen_bn_eval(model, ["blocks", "first_bn"])
    assert not model.first_bn.training and model.bn_before_gru.training
    with pytest.raises(SpoofscopeError, match="leaves no trainable"):
        apply_freeze(build_model("lcnn"), ["cnn", "blstm", "output"])

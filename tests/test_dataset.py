"""Dataset crop/pad policies, per-item seeding, length buckets, bad files, augmentation hook."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from spoofscope.audio import repeat_pad
from spoofscope.data.dataset import AudioDataset, build_augmenter, collate
from spoofscope.data.manifest import Utterance
from spoofscope.data.sampler import LengthBucketSampler, probe_lengths, shard
from spoofscope.errors import SpoofscopeError

SR = 16000


def _ramp_files(tmp_path: Path, lengths: list[int]) -> list[Utterance]:
    """Files whose samples encode their position (so crops can be located exactly)."""
    utts = []
    for i, n in enumerate(lengths):
        x = ((np.arange(n) % 20000) / 20000.0 - 0.5).astype(np.float32)
        path = tmp_path / f"u{i}.wav"
        sf.write(path, x, SR, subtype="FLOAT")
        utts.append(Utterance(f"u{i}", str(path), "bonafide" if i % 2 else "spoof"))
    return utts


@pytest.fixture
def utts(tmp_path: Path) -> list[Utterance]:
    return _ramp_files(tmp_path, [12000, 3000, 8000, 5000, 9000, 2500])


def _noise_aug(wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return wave + rng.normal(0, 0.01, len(wave)).astype(np.float32)


def test_random_crop_is_a_seeded_window(utts: list[Utterance]) -> None:
    ds = AudioDataset(utts, segment_samples=4000, crop="random", seed=7)
    full = AudioDataset(utts, crop="full")[0]["wave"]
    item = ds[0]
    assert item["wave"].shape == (4000,) and item["wave"].dtype == np.float32
    assert item["label"] == 0 and item["index"] == 0
    start = int(np.argmin(np.abs(full - item["wave"][0])))
    np.testing.assert_array_equal(item["wave"], full[start : start + 4000])
    np.testing.assert_array_equal(ds[0]["wave"], item["wave"])  # same (seed, epoch, index)
    starts = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        starts.add(float(ds[0]["wave"][0]))
    assert len(starts) > 1  # the crop moves between epochs
    assert np.array_equal(
        ds[1]["wave"], repeat_pad(AudioDataset(utts, crop="full")[1]["wave"], 4000)
    )


def test_first_crop_and_repeat_pad(utts: list[Utterance]) -> None:
    ds = AudioDataset(utts, segment_samples=4000, crop="first")
    full = AudioDataset(utts, crop="full")
    np.testing.assert_array_equal(ds[0]["wave"], full[0]["wave"][:4000])
    np.testing.assert_array_equal(ds[1]["wave"], repeat_pad(full[1]["wave"], 4000))  # 3000 < 4000
    ds.set_epoch(3)
    np.testing.assert_array_equal(ds[0]["wave"], full[0]["wave"][:4000])  # deterministic


def test_full_mode_min_samples_and_collate_lengths(utts: list[Utterance]) -> None:
    ds = AudioDataset(utts, crop="full", min_samples=2800)
    assert len(ds[0]["wave"]) == 12000 and len(ds[5]["wave"]) == 2800  # 2500 padded up
    batch = collate([ds[2], ds[3], None])
    assert batch["wave"].shape == (2, 8000) and batch["wave"].dtype == torch.float32
    assert batch["length"].tolist() == [8000, 5000]
    assert batch["index"].tolist() == [2, 3] and batch["label"].tolist() == [0, 1]
    assert batch["skipped"] == 1
    np.testing.assert_array_equal(batch["wave"][1].numpy(), repeat_pad(ds[3]["wave"], 8000))
    empty = collate([None, None])
    assert empty["wave"].shape[0] == 0 and empty["skipped"] == 2


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="valid choices: random, first, full"):
        AudioDataset([], segment_samples=10, crop="middle")
    with pytest.raises(ValueError, match="needs segment_samples"):
        AudioDataset([], crop="random")


def test_length_buckets_group_and_cover() -> None:
    lengths = [100, 5000, 120, 4900, 110, 5100, 3000]
    sampler = LengthBucketSampler(lengths, batch_size=2)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(7))
    assert batches[0] == [5, 1] and batches[1] == [3, 6]  # longest first, neighbours together
    spread = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches]
    assert max(spread) <= 1900
    capped = LengthBucketSampler(lengths, batch_size=8, max_batch_samples=10000)
    for b in capped:
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 10000
    shuffled = LengthBucketSampler(lengths, 2, shuffle=True, seed=3)
    first = list(shuffled)
    assert list(shuffled) == first  # same epoch, same order
    assert sorted(map(tuple, first)) == sorted(map(tuple, batches))
    mine = LengthBucketSampler(lengths, 2, indices=shard(7, 1, 2))
    assert sorted(i for b in mine for i in b) == [1, 3, 5]
    with pytest.raises(ValueError, match="batch_size"):
        LengthBucketSampler(lengths, 0)


def test_probe_lengths(utts: list[Utterance], tmp_path: Path) -> None:
    bad = Utterance("bad", str(tmp_path / "missing.wav"), "spoof")
    assert probe_lengths([*utts[:2], bad]) == [12000, 3000, 0]
    assert probe_lengths(utts[:1], sample_rate=8000) == [6000]


def test_items_do_not_depend_on_worker_count(utts: list[Utterance]) -> None:
    ds = AudioDataset(utts, segment_samples=4000, crop="random", augment=_noise_aug, seed=1)
    ds.set_epoch(2)

    def run(workers: int) -> torch.Tensor:
        loader = DataLoader(ds, batch_size=2, collate_fn=collate, num_workers=workers)
        return torch.cat([b["wave"] for b in loader])

    torch.testing.assert_close(run(0), run(2), rtol=0, atol=0)


def test_unreadable_file_is_logged_and_counted(
    utts: list[Utterance], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    bad = [
        Utterance("corrupt", str(corrupt), "spoof"),
        Utterance("gone", str(tmp_path / "gone.flac"), "bonafide"),
    ]
    ds = AudioDataset([*utts, *bad], segment_samples=2000, crop="random")
    loader = DataLoader(ds, batch_size=3, collate_fn=collate, num_workers=0)
    with caplog.at_level("WARNING"):
        batches = list(loader)
    assert sum(b["skipped"] for b in batches) == 2
    assert sum(len(b["index"]) for b in batches) == len(utts)
    assert "corrupt" in caplog.text and "gone" in caplog.text


def test_build_augmenter_disabled_and_invalid() -> None:
    assert build_augmenter({}) is None
    assert build_augmenter({"enabled": False, "gain": {"p": 1.0}}) is None
    with pytest.raises(SpoofscopeError, match="data.augment"):
        build_augmenter({"enabled": True, "no_such_stage": {}})


def test_augmentation_enabled_in_the_dataset(utts: list[Utterance]) -> None:
    settings = {
        "enabled": True,
        "order": ["gain", "speed"],
        "gain": {"p": 1.0},
        "speed": {"p": 1.0},
    }
    aug = build_augmenter(settings)
    assert aug is not None
    plain = AudioDataset(utts, segment_samples=4000, crop="random", seed=5)
    ds = AudioDataset(utts, segment_samples=4000, crop="random", augment=aug, seed=5)
    item = ds[0]["wave"]
    assert item.shape == (4000,) and np.isfinite(item).all()  # speed changes length: re-fixed
    assert not np.allclose(item, plain[0]["wave"])  # augmentation changed the crop
    np.testing.assert_array_equal(ds[0]["wave"], item)  # and is seeded per item

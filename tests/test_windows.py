"""Sliding windows (counts, end alignment, contents, padding, validation) and aggregations."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import spoofscope.windows as windows_module
from spoofscope.audio import repeat_pad
from spoofscope.windows import (
    aggregate,
    count_windows,
    hop_samples,
    make_windows,
    mean_score,
    min_score,
    topk_low_mean,
    weighted_mean,
    window_bounds,
)


def test_doctests_pass():
    result = doctest.testmod(windows_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 15 and result.failed == 0


@pytest.mark.parametrize("segment", [4, 7, 64600])
@pytest.mark.parametrize("hop", [0.25, 0.5, 0.75, 1.0])
def test_counts_alignment_and_coverage(segment, hop):
    step = hop_samples(segment, hop)
    for n in [1, segment - 1, segment, segment + 1, 2 * segment, 3 * segment + 5, 10 * segment]:
        if n < 1:
            continue
        starts, ends = window_bounds(n, segment, hop)
        assert len(starts) == count_windows(n, segment, hop)
        assert starts[0] == 0 and ends[-1] == n  # first at the start, last at the end
        assert np.all(np.diff(starts) > 0)  # no duplicate window
        if n > segment:
            assert np.all(ends - starts == segment)
            assert len(starts) == int(np.ceil((n - segment) / step)) + 1
            assert np.all(np.diff(starts)[:-1] == step)  # regular hop...
            assert 0 < starts[-1] - starts[-2] <= step  # ...but the end-aligned last one
            assert np.all(starts[1:] <= ends[:-1])  # no gap: every sample covered
        else:
            assert starts.tolist() == [0] and ends.tolist() == [n]


def test_window_contents_are_the_audio():
    rng = np.random.default_rng(0)
    wave = rng.normal(size=1000).astype(np.float32)
    w = make_windows(wave, 300, 0.5)
    assert w.segments.shape == (len(w), 300) and w.segments.dtype == np.float32
    assert w.starts.tolist() == [0, 150, 300, 450, 600, 700]
    for s, e, seg in zip(w.starts, w.ends, w.segments, strict=True):
        np.testing.assert_array_equal(seg, wave[s:e])
    np.testing.assert_array_equal(w.segments[-1], wave[-300:])


def test_exactly_one_window_and_float64_input():
    wave = np.linspace(-1, 1, 64600)  # float64 in, float32 out
    w = make_windows(wave, 64600)
    assert len(w) == 1 and w.segments.dtype == np.float32
    np.testing.assert_array_equal(w.segments[0], wave.astype(np.float32))


def test_short_input_is_repeat_padded():
    wave = np.arange(1, 8, dtype=np.float32)  # 7 samples
    w = make_windows(wave, 20, 0.5)
    assert len(w) == 1 and w.starts.tolist() == [0] and w.ends.tolist() == [7]
    np.testing.assert_array_equal(w.segments[0], repeat_pad(wave, 20))
    assert w.segments[0][7] == 1.0 and w.segments[0][14] == 1.0  # repeated, not zeros


@pytest.mark.parametrize("hop", [0, 0.0, -0.5, 1.01, 2, float("nan"), True, "0.5", None])
def test_bad_hop_is_rejected_with_the_valid_range(hop):
    with pytest.raises(ValueError, match=r"hop must be a fraction of the window in \(0, 1\]"):
        window_bounds(100, 10, hop)


@pytest.mark.parametrize("segment", [0, -5, 2.5, True])
def test_bad_segment_is_rejected(segment):
    with pytest.raises(ValueError, match="segment must be a positive number of samples"):
        window_bounds(100, segment)


def test_bad_audio_is_rejected():
    with pytest.raises(ValueError, match="empty audio"):
        window_bounds(0, 10)
    with pytest.raises(ValueError, match="empty audio"):
        make_windows(np.zeros(0, np.float32), 10)
    with pytest.raises(ValueError, match=r"expected 1-D audio"):
        make_windows(np.zeros((2, 100), np.float32), 10)


def test_aggregations():
    s = np.array([2.0, -1.0, 5.0, -3.0, 0.0])
    assert mean_score(s) == pytest.approx(0.6)
    assert min_score(s) == -3.0  # the most spoof-like window
    assert topk_low_mean(s, 2) == -2.0
    assert topk_low_mean(s, 1) == min_score(s)
    assert topk_low_mean(s, 99) == mean_score(s)
    assert weighted_mean(s, [1, 1, 1, 1, 1]) == pytest.approx(mean_score(s))
    assert weighted_mean(s, [0, 0, 1, 0, 0]) == 5.0
    assert aggregate(s) == mean_score(s)
    assert aggregate(s, "min") == -3.0
    assert aggregate(s, "top-k", k=3) == pytest.approx(-4.0 / 3)
    assert aggregate(s, "weighted", weights=[0, 1, 0, 1, 0]) == -2.0


def test_aggregation_errors_name_the_problem():
    with pytest.raises(ValueError, match="valid choices: mean, min, top-k, weighted"):
        aggregate([1.0], "max")
    with pytest.raises(ValueError, match="needs weights"):
        aggregate([1.0], "weighted")
    with pytest.raises(ValueError, match="got 1 weights for 2"):
        weighted_mean([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="not all zero"):
        weighted_mean([1.0, 2.0], [0.0, 0.0])
    with pytest.raises(ValueError, match=">= 0"):
        weighted_mean([1.0, 2.0], [2.0, -1.0])
    with pytest.raises(ValueError, match="k must be a positive integer"):
        topk_low_mean([1.0], 0)
    with pytest.raises(ValueError, match="no window scores"):
        mean_score([])

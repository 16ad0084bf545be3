"""Tests for spoofscope.audio: every format is encoded here, from sines and noise."""

from __future__ import annotations

import functools
import io
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
import soxr

from spoofscope import audio
from spoofscope.audio import (
    AudioDecodeError,
    AudioError,
    AudioFileNotFoundError,
    AudioTooLongError,
    AudioTypeError,
    EmptyAudioError,
    InvalidSamplesError,
    audio_info,
    load_audio,
    repeat_pad,
)
from spoofscope.audio_av import AvReader, frame_to_mono
from spoofscope.audio_readers import SfReader
from spoofscope.errors import SpoofscopeError

SR = 16000
LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1"}


# ----------------------------------------------------------------------------- signal helpers


def tone(freq: float, seconds: float, rate: int, amp: float = 0.5) -> np.ndarray:
    """A sine of shape (round(seconds * rate),), float32."""
    t = np.arange(round(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_hz(y: np.ndarray, rate: int) -> float:
    """Frequency of the largest FFT bin (Hann window)."""
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.argmax(spec) * rate / len(y))


def corr(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    return float(np.corrcoef(a[:n], b[:n])[0, 1])


def best_lag_corr(a: np.ndarray, b: np.ndarray, max_lag: int) -> tuple[int, float]:
    """Lag of ``a`` against ``b`` (a[lag:] ~ b) maximising the correlation, and that value."""
    best = (0, -1.0)
    for lag in range(-max_lag, max_lag + 1):
        x, y = (a[lag:], b) if lag >= 0 else (a, b[-lag:])
        c = corr(x, y)
        if c > best[1]:
            best = (lag, c)
    return best


def resampled_mean(x: np.ndarray, rate: int) -> np.ndarray:
    """The reference a correct decoder gives: channel mean, resampled to 16 kHz."""
    return soxr.resample(x.mean(axis=1), rate, SR, quality="HQ")


# ----------------------------------------------------------------------------- encoders


def sf_bytes(x: np.ndarray, rate: int, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def _to_codec_format(chunk: np.ndarray, fmt: av.AudioFormat) -> np.ndarray:
    """(n, ch) float -> the array layout/dtype ``AudioFrame.from_ndarray`` wants."""
    name = fmt.name.removesuffix("p")
    if name == "flt":
        data = chunk.astype(np.float32)
    elif name == "s16":
        data = np.round(chunk * 32767).astype(np.int16)
    elif name == "s32":
        data = np.round(chunk * (2**31 - 1)).astype(np.int32)
    else:  # pragma: no cover - no encoder used here asks for another format
        raise AssertionError(f"unexpected encoder sample format {fmt.name}")
    return np.ascontiguousarray(data.T if fmt.is_planar else data.reshape(1, -1))


def av_bytes(
    x: np.ndarray,
    rate: int,
    container: str,
    codec: str,
    *,
    video: str | None = None,
    options: dict[str, str] | None = None,
) -> bytes:
    """Encode ``x`` ((n,) or (n, channels)) with PyAV, optionally next to a video stream."""
    x2 = x[:, None] if x.ndim == 1 else x
    layout = LAYOUTS[x2.shape[1]]
    out = io.BytesIO()
    with av.open(out, "w", format=container, options=options or {}) as c:
        stream = c.add_stream(codec, rate=rate)
        stream.layout = layout
        vstream = None
        if video:
            vstream = c.add_stream(video, rate=10)
            vstream.width, vstream.height, vstream.pix_fmt = 64, 48, "yuv420p"
        fmt = stream.codec_context.format
        step = stream.codec_context.frame_size or 1024
        n_video = 0
        for i in range(0, len(x2), step):
            frame = av.AudioFrame.from_ndarray(
                _to_codec_format(x2[i : i + step], fmt), format=fmt.name, layout=layout
            )
            frame.sample_rate, frame.pts = rate, i
            c.mux(stream.encode(frame))
            while vstream is not None and n_video * rate <= (i + step) * 10:
                image = np.full((48, 64, 3), 40 * n_video % 255, np.uint8)
                vframe = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
                    format="yuv420p"
                )
                vframe.pts = n_video
                c.mux(vstream.encode(vframe))
                n_video += 1
        c.mux(stream.encode(None))
        if vstream is not None:
            c.mux(vstream.encode(None))
    return out.getvalue()


def stream_kinds(data: bytes) -> list[str]:
    with av.open(io.BytesIO(data)) as c:
        return [s.type for s in c.streams]


@functools.cache
def lossy_files() -> dict[str, tuple[bytes, int]]:
    """name -> (encoded 1.5 s 440 Hz tone, encoder rate)."""
    x16, x48 = tone(440, 1.5, 16000), tone(440, 1.5, 48000)
    return {
        "ogg_vorbis_sf": (sf_bytes(x16, 16000, "OGG", "VORBIS"), 16000),
        "ogg_opus_sf": (sf_bytes(x48, 48000, "OGG", "OPUS"), 48000),
        "mp3_sf": (sf_bytes(x16, 16000, "MP3", "MPEG_LAYER_III"), 16000),
        "mp3_lame": (av_bytes(x16, 16000, "mp3", "libmp3lame"), 16000),
        "m4a_aac": (av_bytes(x16, 16000, "ipod", "aac"), 16000),
        "webm_opus": (av_bytes(x48, 48000, "webm", "libopus"), 48000),
        "ogg_opus_av": (av_bytes(x48, 48000, "ogg", "libopus"), 48000),
        "mp4_video_aac": (av_bytes(x16, 16000, "mp4", "aac", video="mpeg4"), 16000),
        "webm_video_opus": (av_bytes(x48, 48000, "webm", "libopus", video="libvpx"), 48000),
        "mkv_video_aac": (av_bytes(x16, 16000, "matroska", "aac", video="mpeg4"), 16000),
    }


# ----------------------------------------------------------------------------- formats

WAV_TOL = {  # subtype -> max abs error against the float original
    "PCM_U8": 1 / 128,
    "PCM_16": 1 / 32768,
    "PCM_24": 1e-6,
    "PCM_32": 1e-7,
    "FLOAT": 0.0,
    "DOUBLE": 0.0,
    "ULAW": 0.02,
    "ALAW": 0.02,
}


@pytest.mark.parametrize("subtype", list(WAV_TOL))
def test_wav_subtypes(subtype: str) -> None:
    x = tone(440, 1.0, SR)
    y = load_audio(sf_bytes(x, SR, "WAV", subtype))
    assert y.dtype == np.float32 and y.ndim == 1 and len(y) == SR
    assert np.max(np.abs(y - x)) <= WAV_TOL[subtype]
    assert corr(y, x) >= 0.999


def test_integer_pcm_scaling_is_exact() -> None:
    ints = np.array([-32768, -1, 0, 1, 32767] * 10, np.int16)
    y = load_audio(sf_bytes(ints, SR, "WAV", "PCM_16"))
    np.testing.assert_array_equal(y, ints.astype(np.float32) / 32768)
    assert y.min() == -1.0 and y.max() < 1.0
    u8 = load_audio(sf_bytes(ints, SR, "WAV", "PCM_U8"))  # 8-bit keeps the top byte
    np.testing.assert_array_equal(u8, (ints >> 8).astype(np.float32) / 128)


def test_float_wav_values_beyond_one_are_kept() -> None:
    x = tone(440, 0.5, SR, amp=1.5)
    y = load_audio(sf_bytes(x, SR, "WAV", "FLOAT"))
    np.testing.assert_array_equal(y, x)
    assert y.max() > 1.4


def test_flac_is_lossless() -> None:
    x = tone(440, 1.0, SR)
    y = load_audio(sf_bytes(x, SR, "FLAC", "PCM_16"))
    assert len(y) == SR and corr(y, x) >= 0.999
    assert np.max(np.abs(y - x)) <= 1 / 32768


@pytest.mark.parametrize("name", sorted(lossy_files()))
def test_lossy_and_container_formats(name: str) -> None:
    data, _ = lossy_files()[name]
    y = load_audio(data)
    assert y.dtype == np.float32 and y.ndim == 1
    # 1.5 s at 16 kHz, give or take the codec's priming/padding (at most ~2 codec frames)
    assert abs(len(y) - 24000) <= 2400, len(y)
    assert dominant_hz(y, SR) == pytest.approx(440, abs=2)
    lag, c = best_lag_corr(y[2000:20000], tone(440, 1.5, SR)[2000:20000], 40)
    assert c > 0.95, (lag, c)


@pytest.mark.parametrize(
    ("name", "container"),
    [("mp4_video_aac", "mov"), ("webm_video_opus", "matroska"), ("mkv_video_aac", "matroska")],
)
def test_audio_track_of_a_video(name: str, container: str) -> None:
    data, _ = lossy_files()[name]
    assert sorted(stream_kinds(data)) == ["audio", "video"]  # the file really has video
    info = audio_info(data)
    assert info.backend == "pyav" and info.format.startswith(container)
    assert info.channels == 1 and info.frames is None
    assert info.duration_s == pytest.approx(1.5, abs=0.15)


def test_container_without_audio_is_a_decode_error() -> None:
    data = av_bytes(tone(440, 0.5, SR), SR, "mp4", "aac", video="mpeg4")
    with av.open(io.BytesIO(data)) as c:  # remux the video stream alone
        out = io.BytesIO()
        with av.open(out, "w", format="mp4") as o:
            v = o.add_stream_from_template(c.streams.video[0])
            for packet in c.demux(c.streams.video[0]):
                if packet.dts is not None:
                    packet.stream = v
                    o.mux(packet)
    assert stream_kinds(out.getvalue()) == ["video"]
    with pytest.raises(AudioDecodeError, match="no audio stream"):
        load_audio(out.getvalue())


@pytest.mark.parametrize(
    "fmt", ["u8", "u8p", "s16", "s16p", "s32", "s32p", "s64", "s64p", "flt", "fltp", "dbl", "dblp"]
)
def test_every_ffmpeg_sample_format_is_scaled_and_averaged(fmt: str) -> None:
    """PyAV frames come packed (1, n*ch) or planar (ch, n) in 12 sample formats."""
    left = np.linspace(-1, 0.99, 64)
    right = np.linspace(0.5, -0.5, 64)
    name = fmt.removesuffix("p")
    full_scale = {"u8": 128, "s16": 2**15, "s32": 2**31, "s64": 2**63}.get(name)
    dtype = {"u8": np.uint8, "s16": np.int16, "s32": np.int32, "s64": np.int64}.get(
        name, np.float32 if name == "flt" else np.float64
    )
    chans = np.stack([left, right])  # (ch, n)
    if full_scale is None:
        raw = chans.astype(dtype)
    else:
        ints = np.round(chans * full_scale).clip(-full_scale, full_scale - 1)
        raw = (ints + (128 if name == "u8" else 0)).astype(dtype)
    data = raw if fmt.endswith("p") else raw.T.reshape(1, -1)
    if name == "s64":  # PyAV cannot build s64 frames from arrays: convert s32 ones
        s32 = np.round(chans * 2**31).clip(-(2**31), 2**31 - 1).astype(np.int32)
        raw = s32.astype(np.int64) << 32
        src = av.AudioFrame.from_ndarray(
            s32 if fmt.endswith("p") else s32.T.reshape(1, -1),
            format=fmt.replace("64", "32"),
            layout="stereo",
        )
        src.sample_rate = SR
        (frame,) = av.AudioResampler(format=fmt, layout="stereo", rate=SR).resample(src)
        assert frame.format.name == fmt
    else:
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout="stereo")
    mono, is_float = frame_to_mono(frame)
    assert mono.dtype == np.float32 and mono.shape == (64,)
    assert is_float == (name in ("flt", "dbl"))
    expected = (raw.astype(np.float64) - (128 if name == "u8" else 0)) / (full_scale or 1)
    np.testing.assert_allclose(mono, expected.mean(axis=0), atol=1e-6)


# ----------------------------------------------------------------------------- inputs


class _Unseekable(io.RawIOBase):
    """A read-only stream that cannot seek, like a socket or a pipe."""

    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        return self._buf.readinto(b)


@pytest.mark.parametrize("codec", ["wav", "m4a"])
def test_every_input_kind_gives_the_same_samples(tmp_path: Path, codec: str) -> None:
    if codec == "wav":
        data = sf_bytes(tone(440, 1.0, 22050), 22050, "WAV", "PCM_16")
    else:
        data = lossy_files()["m4a_aac"][0]
    path = tmp_path / "clip.bin"  # the extension says nothing: detection is by content
    path.write_bytes(data)
    ref = load_audio(data)
    with open(path, "rb") as fh:
        from_file = load_audio(fh)
        assert not fh.closed  # the caller's file object stays open
    positioned = io.BytesIO(b"junk" + data)
    positioned.read(4)
    variants = {
        "str": load_audio(str(path)),
        "Path": load_audio(path),
        "bytearray": load_audio(bytearray(data)),
        "memoryview": load_audio(memoryview(data)),
        "file": from_file,
        "BytesIO": load_audio(io.BytesIO(data)),
        "unseekable": load_audio(_Unseekable(data)),
        "positioned": load_audio(positioned),
    }
    for kind, y in variants.items():
        np.testing.assert_array_equal(y, ref, err_msg=kind)


def test_matching_rate_is_not_resampled() -> None:
    x = np.random.default_rng(0).uniform(-0.9, 0.9, 3 * SR).astype(np.float32)
    data = sf_bytes(x, SR, "WAV", "FLOAT")
    np.testing.assert_array_equal(load_audio(data), x)


# ----------------------------------------------------------------------------- resampling


@pytest.mark.parametrize("rate", [8000, 12345, 22050, 44100, 48000, 96000, 192000])
def test_input_rates_resampled_to_16k(rate: int) -> None:
    y = load_audio(sf_bytes(tone(440, 1.5, rate), rate, "WAV", "PCM_16"))
    assert y.dtype == np.float32
    assert abs(len(y) - 24000) <= 1
    assert dominant_hz(y, SR) == pytest.approx(440, abs=1)
    np.testing.assert_allclose(np.std(y[1000:-1000]), 0.5 / np.sqrt(2), rtol=0.01)
    assert corr(y[1000:-1000], tone(440, 1.5, SR)[1000:-1000]) > 0.999


@pytest.mark.parametrize("out_rate", [8000, 22050, 44100])
def test_other_output_rates(out_rate: int) -> None:
    y = load_audio(sf_bytes(tone(1000, 1.0, 48000), 48000), sample_rate=out_rate)
    assert abs(len(y) - out_rate) <= 1
    assert dominant_hz(y, out_rate) == pytest.approx(1000, abs=2)


def test_resampling_removes_content_above_the_new_nyquist() -> None:
    x = tone(440, 1.0, 48000) + tone(12000, 1.0, 48000)  # 12 kHz cannot exist at 16 kHz
    y = load_audio(sf_bytes(x, 48000, "WAV", "FLOAT"))
    assert corr(y[500:-500], tone(440, 1.0, SR)[500:-500]) > 0.999


# ----------------------------------------------------------------------------- channels


def test_stereo_downmix_is_the_mean() -> None:
    left, right = tone(440, 1.0, SR), tone(1000, 1.0, SR, amp=0.3)
    y = load_audio(sf_bytes(np.stack([left, right], 1), SR, "WAV", "FLOAT"))
    np.testing.assert_allclose(y, (left + right) / 2, atol=1e-7)


@pytest.mark.parametrize("route", ["soundfile", "pyav"])
def test_six_channel_downmix_is_the_mean(route: str) -> None:
    rng = np.random.default_rng(1)
    x = np.stack([tone(200 * (k + 1), 1.0, SR, amp=0.1 + 0.05 * k) for k in range(6)], 1)
    x += rng.uniform(-0.05, 0.05, x.shape).astype(np.float32)
    if route == "soundfile":
        data, tol = sf_bytes(x, SR, "FLAC", "PCM_24"), 1e-6
    else:  # FLAC inside Matroska: libsndfile cannot read it, FFmpeg decodes it losslessly
        data, tol = av_bytes(x, SR, "matroska", "flac"), 2e-5
    assert audio_info(data).backend == route and audio_info(data).channels == 6
    y = load_audio(data)
    assert len(y) == SR
    np.testing.assert_allclose(y, x.mean(axis=1), atol=tol)


def test_mp3_goes_to_ffmpeg_and_survives_blocks_and_seeks() -> None:
    """libsndfile 1.2 garbles MP3 across read calls and after seeks; FFmpeg decodes it."""
    rate = 44100  # 7 s of stereo: more than one read block
    x = np.stack([tone(440, 7.0, rate), tone(700, 7.0, rate, amp=0.3)], 1)
    data = sf_bytes(x, rate, "MP3", "MPEG_LAYER_III")
    assert sf.info(io.BytesIO(data)).format == "MP3"  # libsndfile would open it
    y = load_audio(data)
    ref = resampled_mean(x, rate)
    assert abs(len(y) - len(ref)) <= 1
    windows = [corr(y[i : i + 4000], ref[i : i + 4000]) for i in range(2000, len(ref) - 6000, 4000)]
    assert min(windows) > 0.99, windows
    steps = np.concatenate([tone(300 + 150 * k, 1.0, SR, amp=0.4) for k in range(6)])
    data = sf_bytes(steps, SR, "MP3", "MPEG_LAYER_III")
    part = load_audio(data, start_s=3.3, duration_s=1.2)
    np.testing.assert_allclose(part, load_audio(data)[52800:72000], atol=1e-6)
    assert audio_info(data).backend == "pyav"


def test_stereo_aac_downmix_tracks_the_mean() -> None:
    left, right = tone(440, 1.5, SR), tone(1200, 1.5, SR, amp=0.3)
    data = av_bytes(np.stack([left, right], 1), SR, "ipod", "aac")
    y = load_audio(data)
    lag, c = best_lag_corr(y[2000:20000], ((left + right) / 2)[2000:20000], 40)
    assert c > 0.99, (lag, c)


# ----------------------------------------------------------------------------- ranges


def test_wav_range_is_the_exact_slice() -> None:
    x = np.random.default_rng(2).uniform(-0.9, 0.9, 10 * SR).astype(np.float32)
    data = sf_bytes(x, SR, "WAV", "FLOAT")
    np.testing.assert_array_equal(load_audio(data, start_s=2.5, duration_s=1.25), x[40000:60000])
    np.testing.assert_array_equal(load_audio(data, start_s=9.0), x[144000:])
    np.testing.assert_array_equal(load_audio(data, duration_s=0.5), x[:8000])
    np.testing.assert_array_equal(load_audio(data, start_s=9.5, duration_s=5.0), x[152000:])
    with pytest.raises(EmptyAudioError, match="past the end"):
        load_audio(data, start_s=10.0)


def test_resampled_range_matches_the_full_decode() -> None:
    x = tone(440, 6.0, 44100) + tone(3000, 6.0, 44100, amp=0.2)
    data = sf_bytes(x, 44100, "WAV", "PCM_24")
    full = load_audio(data)
    part = load_audio(data, start_s=2.0, duration_s=1.5)
    assert abs(len(part) - 24000) <= 1
    inner = slice(200, -200)  # resampler edge effects at the cut
    np.testing.assert_allclose(part[inner], full[32000:56000][inner], atol=1e-3)


@pytest.mark.parametrize(
    ("fmt", "subtype", "rate"),
    [("FLAC", "PCM_16", SR), ("OGG", "VORBIS", SR), ("OGG", "OPUS", 48000)],
)
def test_libsndfile_range_is_sample_exact(fmt: str, subtype: str, rate: int) -> None:
    """libsndfile seeks these formats exactly: a range equals that slice of a full decode."""
    x = np.concatenate([tone(300 + 150 * k, 1.0, rate, amp=0.4) for k in range(6)])
    data = sf_bytes(x, rate, fmt, subtype)
    assert audio_info(data).backend == "soundfile"
    full = load_audio(data)
    part = load_audio(data, start_s=3.3, duration_s=1.2)
    assert len(part) == 19200
    edge = 0 if rate == SR else 200  # a resampler started at the cut differs at its edges
    np.testing.assert_allclose(
        part[edge : 19200 - edge], full[52800 + edge : 72000 - edge], atol=1e-6
    )


@pytest.mark.parametrize(
    ("container", "codec", "rate", "max_lag"),
    [("webm", "libopus", 48000, 16), ("ipod", "aac", 16000, 0), ("mp3", "libmp3lame", SR, 0)],
)
def test_pyav_range_matches_the_full_decode(
    container: str, codec: str, rate: int, max_lag: int
) -> None:
    """A seek lands where a full decode would be; WebM timestamps are whole milliseconds."""
    rng = np.random.default_rng(3)
    steps = [tone(300 + 150 * k, 1.0, rate, amp=0.4) for k in range(8)]
    x = np.concatenate(steps) + rng.normal(0, 0.02, 8 * rate).astype(np.float32)
    data = av_bytes(x, rate, container, codec)
    assert audio_info(data).backend == "pyav"
    full = load_audio(data)
    part = load_audio(data, start_s=4.3, duration_s=1.2)
    assert abs(len(part) - 19200) <= 1
    inner = slice(400, -400)  # the decoder re-converges, the resampler has edges
    lag, c = best_lag_corr(part[inner], full[68800 : 68800 + 19200][inner], 40)
    assert abs(lag) <= max_lag and c > 0.999, (lag, c)
    assert dominant_hz(part[inner], SR) == pytest.approx(300 + 150 * 4, abs=3)


def test_pyav_range_past_the_end_is_empty() -> None:
    data, _ = lossy_files()["m4a_aac"]
    with pytest.raises(EmptyAudioError, match="range"):
        load_audio(data, start_s=30.0)


# ----------------------------------------------------------------------------- length cap


def test_cap_refused_from_the_header_without_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    wav = sf_bytes(np.zeros(10 * SR, np.float32), SR, "WAV", "PCM_16")
    m4a = av_bytes(np.zeros(10 * SR, np.float32), SR, "ipod", "aac")

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoding started")

    monkeypatch.setattr(SfReader, "blocks", no_decoding)
    monkeypatch.setattr(AvReader, "blocks", no_decoding)
    for data in (wav, m4a):
        with pytest.raises(AudioTooLongError) as err:
            load_audio(data, max_duration_s=2)
        msg = str(err.value)
        assert "10.0 s" in msg and "max_duration_s=2" in msg and "None for no limit" in msg
    with pytest.raises(AudioTooLongError, match="range"):
        load_audio(wav, start_s=1.0, max_duration_s=2)


def test_cap_applies_to_the_requested_range() -> None:
    x = np.random.default_rng(4).uniform(-0.5, 0.5, 10 * SR).astype(np.float32)
    data = sf_bytes(x, SR, "WAV", "FLOAT")
    assert len(load_audio(data, start_s=3.0, duration_s=1.5, max_duration_s=2)) == 24000
    assert len(load_audio(data, start_s=8.5, max_duration_s=2)) == 24000
    assert len(load_audio(data, max_duration_s=None)) == 10 * SR
    with pytest.raises(AudioTooLongError):
        load_audio(data, max_duration_s=9.9)


def test_cap_enforced_while_decoding_when_the_header_is_silent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = av_bytes(tone(440, 5.0, SR), SR, "ipod", "aac")
    monkeypatch.setattr(AvReader, "duration_s", property(lambda self: None))
    assert audio_info(data).duration_s is None
    with pytest.raises(AudioTooLongError, match="no length in header"):
        load_audio(data, max_duration_s=2)
    assert abs(len(load_audio(data, max_duration_s=6)) - 5 * SR) <= 2048


def test_cap_enforced_while_decoding_when_the_header_lies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = av_bytes(tone(440, 5.0, SR), SR, "ipod", "aac")
    monkeypatch.setattr(AvReader, "duration_s", property(lambda self: 1.0))
    assert len(load_audio(data, duration_s=2.0, max_duration_s=2)) == 2 * SR
    with pytest.raises(AudioTooLongError, match="more than its header announced"):
        load_audio(data, max_duration_s=2)


def test_streamed_wav_with_zero_data_size_is_read_through_ffmpeg() -> None:
    x = tone(440, 1.0, SR)
    data = bytearray(sf_bytes(x, SR, "WAV", "PCM_16"))
    data[4:8] = data[40:44] = b"\0\0\0\0"  # RIFF and data sizes left at 0 by a streaming writer
    assert sf.info(io.BytesIO(bytes(data))).frames == 0
    y = load_audio(bytes(data))
    assert len(y) == SR and np.max(np.abs(y - x)) <= 1 / 32768


# ----------------------------------------------------------------------------- errors


def _assert_chained(err: pytest.ExceptionInfo[AudioError]) -> None:
    assert isinstance(err.value, SpoofscopeError)
    assert err.value.__cause__ is not None  # the decoder's own error is kept, not leaked


def test_missing_file_and_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nope.wav"
    with pytest.raises(AudioFileNotFoundError, match="nope.wav: no such file") as err:
        load_audio(missing)
    assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, AudioError)
    with pytest.raises(AudioFileNotFoundError, match="is a directory"):
        load_audio(tmp_path)
    with pytest.raises(AudioFileNotFoundError):
        audio_info(str(missing))


def test_random_bytes_and_text_are_decode_errors() -> None:
    junk = np.random.default_rng(5).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    with pytest.raises(AudioDecodeError, match=r"<bytes, 4000 bytes>") as err:
        load_audio(junk)
    _assert_chained(err)
    assert "libsndfile" in str(err.value) and "FFmpeg" in str(err.value)
    with pytest.raises(AudioDecodeError, match=r"<file object>"):
        load_audio(io.BytesIO(b"this is not audio\n" * 50))


def test_decode_error_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "song.mp3"
    path.write_bytes(b"\0" * 3000)
    with pytest.raises(AudioDecodeError, match=str(path)):
        load_audio(path)


@pytest.mark.parametrize("kind", ["wav_header", "flac", "m4a", "ogg_vorbis"])
def test_truncated_files_are_decode_errors(kind: str) -> None:
    x = tone(440, 1.0, SR)
    data = {
        "wav_header": sf_bytes(x, SR, "WAV", "PCM_16")[:30],
        "flac": sf_bytes(x, SR, "FLAC", "PCM_16"),
        "m4a": lossy_files()["m4a_aac"][0],
        "ogg_vorbis": sf_bytes(x, SR, "OGG", "VORBIS"),
    }[kind]
    if kind != "wav_header":
        data = data[: len(data) // 2]
    with pytest.raises(AudioDecodeError) as err:
        load_audio(data)
    _assert_chained(err)


@pytest.mark.parametrize("name", ["webm_opus", "mp3_sf"])
def test_cut_stream_gives_what_decodes_with_a_warning(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Formats whose decoders accept a cut stream give the part there is, and say so."""
    data = lossy_files()[name][0]
    with caplog.at_level("WARNING", logger="spoofscope.audio"):
        y = load_audio(data[: len(data) // 2])
    assert 0.2 * 24000 < len(y) < 0.8 * 24000
    assert dominant_hz(y, SR) == pytest.approx(440, abs=3)
    assert "truncated file?" in caplog.text


def test_zero_sample_wav_is_empty() -> None:
    data = sf_bytes(np.zeros(0, np.float32), SR, "WAV", "PCM_16")
    with pytest.raises(EmptyAudioError, match="no audio samples"):
        load_audio(data)
    assert audio_info(data).frames == 0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("subtype", ["FLOAT", "DOUBLE"])
def test_nan_and_inf_samples_are_refused(bad: float, subtype: str) -> None:
    x = tone(440, 1.0, SR)
    x[8000] = bad
    with pytest.raises(InvalidSamplesError, match=r"NaN/Inf.*0\.500 s"):
        load_audio(sf_bytes(x, SR, "WAV", subtype))


@pytest.mark.parametrize("src", [123, 1.5, ["a.wav"], None, np.zeros(10)])
def test_wrong_source_type(src: object) -> None:
    with pytest.raises(AudioTypeError, match=type(src).__name__) as err:
        load_audio(src)  # type: ignore[arg-type]
    assert isinstance(err.value, TypeError) and "bytes" in str(err.value)


def test_text_mode_file_is_a_type_error(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    path.write_bytes(sf_bytes(tone(440, 0.1, SR), SR))
    with open(path) as fh, pytest.raises(AudioTypeError, match="text mode"):
        load_audio(fh)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sample_rate": 0},
        {"sample_rate": -16000},
        {"sample_rate": 16000.0},
        {"start_s": -1.0},
        {"duration_s": 0.0},
        {"start_s": float("nan")},
        {"max_duration_s": 0},
    ],
)
def test_bad_arguments(kwargs: dict[str, float]) -> None:
    data = sf_bytes(tone(440, 0.1, SR), SR)
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        load_audio(data, **kwargs)  # type: ignore[arg-type]


def test_playlists_cannot_pull_in_other_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HLS and ffconcat inputs would make FFmpeg read other local files (or URLs)."""
    monkeypatch.chdir(tmp_path)  # ffconcat resolves names from bytes against the cwd
    segment = av_bytes(tone(440, 2.0, 16000), 16000, "mpegts", "mp2")
    (tmp_path / "secret.ts").write_bytes(segment)
    assert len(load_audio(segment)) > 16000  # the segment itself is fine audio
    concat = b"ffconcat version 1.0\nfile secret.ts\n"
    playlist = tmp_path / "list.m3u8"  # FFmpeg's HLS demuxer trusts the extension
    playlist.write_bytes(b"#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:2.0,\nsecret.ts\n")
    with open(playlist, "rb") as fh:
        for src in (concat, playlist, fh):
            with pytest.raises(AudioDecodeError, match="not a readable audio"):
                load_audio(src)


# ----------------------------------------------------------------------------- info, padding


def test_audio_info_from_the_header() -> None:
    data = sf_bytes(np.zeros((88200, 2), np.float32), 44100, "WAV", "PCM_24")
    assert audio_info(data) == audio.AudioInfo(44100, 2, 88200, 2.0, "WAV/PCM_24", "soundfile")
    info = audio_info(lossy_files()["webm_opus"][0])
    assert (info.sample_rate, info.channels, info.frames) == (48000, 1, None)
    assert info.format == "matroska,webm/opus" and info.duration_s == pytest.approx(1.5, abs=0.1)


def test_audio_info_decodes_one_frame_when_the_header_has_no_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = lossy_files()["webm_opus"][0]
    monkeypatch.setattr(AvReader, "sample_rate", property(lambda self: 0))
    info = audio_info(data)
    assert (info.sample_rate, info.channels) == (48000, 1)


def test_repeat_pad_follows_the_asvspoof_convention() -> None:
    x = np.array([1.0, 2.0, 3.0], np.float32)
    np.testing.assert_array_equal(repeat_pad(x, 8), [1, 2, 3, 1, 2, 3, 1, 2])
    np.testing.assert_array_equal(repeat_pad(x, 3), x)
    np.testing.assert_array_equal(repeat_pad(x, 2), [1, 2])
    long = np.arange(64600 + 5, dtype=np.float32)
    assert repeat_pad(long, 64600).base is long  # no copy when cutting
    y = np.arange(1000, dtype=np.float32)
    np.testing.assert_array_equal(repeat_pad(y, 64600), np.tile(y, 65)[:64600])
    with pytest.raises(ValueError, match="empty"):
        repeat_pad(np.zeros(0, np.float32), 10)

"""Decoding: probe, timeline resampling, rotation, containers, audio and broken inputs.

Small test files are written with PyAV into tmp_path; real clips come from the shared media.
"""

from __future__ import annotations

import csv
import inspect
import logging
import tracemalloc
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from media import level, sine, write_video

from talkscore import decoding
from talkscore.decoding import Frame, frame_count, iter_frames, probe, read_audio
from talkscore.errors import DecodeError


def source_index(frame: Frame) -> int:
    """Which level(i) (i < 30) a flat frame shows."""
    return round((float(frame.image.mean()) - 12) / 8)


def dominant_frequency(signal: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.argmax(spectrum) * rate / len(signal))


# --- timeline ---------------------------------------------------------------------------


def test_frame_count():
    assert frame_count(2.0, 25) == 50
    assert frame_count(2.001, 25) == 51
    assert frame_count(0.0, 25) == 0
    assert frame_count(-1.0, 25) == 0
    assert frame_count(1 / 3, 3) == 1  # float noise below 1e-6 does not add a frame


@pytest.mark.parametrize(("source_fps", "n"), [(25, 50), (30, 60), (60, 120), (10, 20)])
def test_timeline_resamples_by_sample_and_hold(tmp_path, source_fps, n):
    path = write_video(tmp_path / f"v{source_fps}.mp4", n=n, fps=source_fps)
    info = probe(path)
    assert info.native_fps == pytest.approx(source_fps)
    assert info.duration == pytest.approx(n / source_fps, abs=1e-3)
    frames = list(iter_frames(path, fps=25))
    assert abs(len(frames) - frame_count(info.duration, 25)) <= 1
    assert [f.index for f in frames] == list(range(len(frames)))
    for f in frames:
        assert f.time == pytest.approx(f.index / 25)
        expected = int(np.floor(f.time * source_fps + 1e-6)) % 30  # latest source frame <= t
        assert source_index(f) == expected, f"timeline frame {f.index} at {f.time:.3f} s"


def test_variable_frame_rate(tmp_path):
    pts_ms = [0, 40, 200, 220, 500, 900]
    path = write_video(tmp_path / "vfr.mkv", n=len(pts_ms), codec="mpeg4", pts_ms=pts_ms)
    assert probe(path).duration == pytest.approx(0.94, abs=1e-3)
    for fps in (25, 10, 50):
        frames = list(iter_frames(path, fps=fps))
        assert len(frames) == frame_count(0.94, fps)
        for f in frames:
            expected = max(i for i, p in enumerate(pts_ms) if p <= f.time * 1000 + 1e-6)
            assert source_index(f) == expected, f"fps {fps}, t={f.time:.3f} s"


def test_iter_frames_is_lazy_and_bounded_for_1080p(tmp_path):
    path = write_video(tmp_path / "hd.mp4", n=50, size=(1920, 1080), codec="libx264")
    frames = iter_frames(path, fps=25, max_side=640)
    assert inspect.isgenerator(frames)
    tracemalloc.start()
    count = 0
    for f in frames:
        assert f.image.shape == (360, 640, 3) and f.image.dtype == np.uint8
        count += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 50
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.1f} MiB of Python allocations"


def test_first_frame_comes_before_the_file_is_read(tmp_path):
    path = write_video(tmp_path / "long.mp4", n=100)
    frames = iter_frames(path)
    first = next(frames)
    frames.close()  # stops decoding; the container is closed
    assert first.index == 0 and source_index(first) == 0


# --- geometry -----------------------------------------------------------------------------


def _marked(width: int, height: int):
    """A frame with a white block in its top-left quarter."""

    def image(_i: int) -> np.ndarray:
        pixels = np.zeros((height, width, 3), np.uint8)
        pixels[: height // 2, : width // 2] = 255
        return pixels

    return image


@pytest.mark.parametrize(("counterclockwise", "clockwise"), [(90, 270), (-90, 90), (180, 180)])
def test_rotation_metadata_gives_upright_frames(tmp_path, counterclockwise, clockwise):
    stored = _marked(64, 32)(0)
    path = write_video(
        tmp_path / "rot.mp4", n=3, size=(64, 32), rotation=counterclockwise, image=_marked(64, 32)
    )
    info = probe(path)
    assert info.rotation == clockwise
    expected_size = (64, 32) if clockwise == 180 else (32, 64)
    assert (info.width, info.height) == expected_size
    upright = np.rot90(stored, k=counterclockwise // 90)  # what a player shows
    for f in iter_frames(path):
        assert f.image.shape == upright.shape
        assert np.abs(f.image.astype(int) - upright).mean() < 8


def test_rotate_helper():
    image = np.arange(6, dtype=np.uint8).reshape(2, 3, 1).repeat(3, axis=2)
    assert np.array_equal(decoding._rotate(image, 90), np.rot90(image, k=-1))
    assert np.array_equal(decoding._rotate(image, 270), np.rot90(image, k=1))
    assert np.array_equal(decoding._rotate(image, 180), np.rot90(image, k=2))
    assert decoding._clockwise_rotation(90.0) == 270
    assert decoding._clockwise_rotation(-90.0) == 90
    assert decoding._clockwise_rotation(-180.0) == 180


def test_odd_size_and_downscale_keep_aspect(tmp_path):
    path = write_video(tmp_path / "odd.mp4", n=5, size=(321, 241), pix_fmt="yuv444p")
    info = probe(path)
    assert (info.width, info.height) == (321, 241)
    native = list(iter_frames(path, max_side=None))
    assert len(native) == 5 and native[0].image.shape == (241, 321, 3)
    assert list(iter_frames(path, max_side=640))[0].image.shape == (241, 321, 3)  # no upscaling
    small = list(iter_frames(path, max_side=100))[2].image
    assert small.shape == (75, 100, 3)
    assert small.shape[1] / small.shape[0] == pytest.approx(321 / 241, rel=0.02)
    assert source_index(native[2]) == 2 and abs(float(small.mean()) - level(2)) < 2


def test_invalid_arguments(tmp_path):
    path = write_video(tmp_path / "v.mp4", n=2)
    with pytest.raises(ValueError, match="fps"):
        iter_frames(path, fps=0)
    with pytest.raises(ValueError, match="max_side"):
        iter_frames(path, max_side=0)


# --- containers and codecs ----------------------------------------------------------------


def _require(codec: str) -> None:
    if codec not in av.codecs_available:
        pytest.skip(f"encoder {codec} is not in PyAV's bundled FFmpeg")


@pytest.mark.parametrize(
    ("name", "codec", "decoder"),
    [
        ("v.mkv", "libx264", "h264"),
        ("v.mov", "libx264", "h264"),
        ("v.avi", "mpeg4", "mpeg4"),
        ("v.avi", "mjpeg", "mjpeg"),
        ("vp8.webm", "libvpx", "vp8"),
        ("vp9.webm", "libvpx-vp9", "vp9"),
    ],
)
def test_containers(tmp_path, name, codec, decoder):
    _require(codec)
    pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
    audio = sine(1.0, 48000, 2) if not name.endswith(".avi") else None
    path = write_video(tmp_path / name, n=12, codec=codec, pix_fmt=pix_fmt, audio=audio)
    info = probe(path)
    assert info.video_codec == decoder
    assert info.duration == pytest.approx(12 / 25, abs=0.01)  # the video's, not the audio's
    assert (info.width, info.height, info.rotation) == (64, 48, 0)
    assert info.has_audio == (audio is not None)
    frames = list(iter_frames(path))
    assert len(frames) == 12
    assert [source_index(f) for f in frames] == list(range(12))
    assert info.to_dict()["video_codec"] == decoder


def test_duration_from_packet_scan(tmp_path, monkeypatch):
    path = write_video(tmp_path / "v.mkv", n=12, audio=sine(1.0, 48000, 2))
    monkeypatch.setattr(decoding, "_parse_clock", lambda _text: None)  # as if no DURATION tag
    assert probe(path).duration == pytest.approx(12 / 25, abs=0.01)


# --- audio --------------------------------------------------------------------------------


def test_audio_48k_stereo_sine_to_16k_mono(tmp_path):
    path = write_video(tmp_path / "a.mp4", n=50, audio=sine(2.0, 48000, 2))
    info = probe(path)
    assert (info.has_audio, info.audio_sample_rate, info.audio_channels) == (True, 48000, 2)
    samples = read_audio(path)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) - 32000) <= 1100  # AAC frames of 1024 samples at 48 kHz
    assert dominant_frequency(samples, 16000) == pytest.approx(440, abs=2)
    assert np.abs(samples).max() <= 1.0
    assert np.abs(samples[4000:28000]).max() == pytest.approx(0.5, abs=0.05)


def test_audio_wav_files(tmp_path):
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, sine(2.0, 48000, 2).T, 48000, subtype="PCM_16")
    samples = read_audio(stereo)
    assert len(samples) == 32000
    assert dominant_frequency(samples, 16000) == pytest.approx(440, abs=2)
    mono8 = tmp_path / "mono8.wav"
    sf.write(mono8, sine(1.0, 8000, 1)[0], 8000, subtype="PCM_U8")
    samples = read_audio(mono8, sample_rate=16000)
    assert len(samples) == 16000
    assert dominant_frequency(samples, 16000) == pytest.approx(440, abs=2)
    assert np.abs(samples).max() == pytest.approx(0.5, abs=0.05)
    assert len(read_audio(mono8, sample_rate=8000)) == 8000


def test_audio_only_file_is_not_a_video(tmp_path):
    path = tmp_path / "speech.wav"
    sf.write(path, sine(0.5, 16000, 1)[0], 16000)
    with pytest.raises(DecodeError, match="has no video stream"):
        probe(path)


def test_video_without_audio(tmp_path):
    path = write_video(tmp_path / "silent.mp4", n=5)
    assert probe(path).has_audio is False
    assert probe(path).audio_sample_rate is None
    assert read_audio(path) is None


@pytest.mark.parametrize(("video_s", "audio_s"), [(1.0, 2.0), (2.0, 0.5)])
def test_audio_and_video_lengths_reported_as_they_are(tmp_path, video_s, audio_s):
    path = write_video(tmp_path / "av.mkv", n=round(video_s * 25), audio=sine(audio_s, 48000, 2))
    assert probe(path).duration == pytest.approx(video_s, abs=0.01)
    assert len(list(iter_frames(path))) == round(video_s * 25)
    assert len(read_audio(path)) / 16000 == pytest.approx(audio_s, abs=0.07)


# --- errors -------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(DecodeError, match="file not found"):
        probe(tmp_path / "nope.mp4")
    with pytest.raises(DecodeError, match="file not found"):
        iter_frames(tmp_path / "nope.mp4")
    with pytest.raises(DecodeError, match="file not found"):
        read_audio(tmp_path / "nope.wav")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.touch()
    with pytest.raises(DecodeError, match=r"is empty \(0 bytes\)"):
        probe(path)


def test_text_file_named_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 50)
    with pytest.raises(DecodeError, match="is not a readable video or audio file"):
        probe(path)
    with pytest.raises(DecodeError, match="is not a readable video or audio file"):
        read_audio(path)


def test_directory(tmp_path):
    with pytest.raises(DecodeError, match="is a directory"):
        probe(tmp_path)


@pytest.mark.parametrize("name", ["t.mp4", "t.mkv", "t.avi", "t.webm"])
def test_truncated_file_yields_frames_or_decode_error(tmp_path, name, caplog):
    codec = "libvpx" if name.endswith(".webm") else None
    if codec:
        _require(codec)
    full = write_video(tmp_path / f"full_{name}", n=50, codec=codec, image=_noise)
    data = full.read_bytes()
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2])
    try:
        with caplog.at_level(logging.WARNING, logger="talkscore.decoding"):
            frames = list(iter_frames(path))
    except DecodeError:
        return  # e.g. mp4 whose index (moov) was at the cut-off end
    assert 0 < len(frames) < 50
    if probe(path).duration > len(frames) / 25 + 0.5:  # the header still says 2 s (not avi)
        assert "truncated" in caplog.text or "stopped" in caplog.text


@pytest.mark.parametrize("name", ["g.mp4", "g.mkv", "g.avi"])
def test_corrupt_middle_is_skipped(tmp_path, name):
    full = write_video(tmp_path / f"full_{name}", n=50, image=_noise)
    data = bytearray(full.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 2000] = np.random.default_rng(1).bytes(2000)
    path = tmp_path / name
    path.write_bytes(bytes(data))
    try:
        frames = list(iter_frames(path))
    except DecodeError:
        return
    assert 25 <= len(frames) <= 50  # at least the frames before the damage


def _noise(i: int) -> np.ndarray:
    """Incompressible frames, so that half the file holds about half the frames."""
    return np.random.default_rng(i).integers(0, 256, (48, 64, 3), dtype=np.uint8)


# --- real clips ---------------------------------------------------------------------------


def _manifest(clips_dir: Path) -> list[dict]:
    with open(clips_dir / "MANIFEST.tsv", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [row for row in rows if (clips_dir / row["filename"]).is_file()]


def _pick(rows: list[dict], category: str, count: int, **where) -> list[dict]:
    chosen = [
        r for r in rows if r["category"] == category and all(r[k] == v for k, v in where.items())
    ]
    if len(chosen) < count:
        pytest.skip(f"fewer than {count} '{category}' clips in the manifest")
    return chosen[:count]


def test_real_clips_match_manifest(clips_dir):
    for row in _pick(_manifest(clips_dir), "real", 2):
        path = clips_dir / row["filename"]
        info = probe(path)
        width, height = (int(v) for v in row["resolution"].split("x"))
        assert (info.width, info.height) == (width, height), row["filename"]
        assert info.native_fps == pytest.approx(float(row["fps"]), rel=0.01), row["filename"]
        assert info.duration == pytest.approx(float(row["duration_s"]), abs=0.1), row["filename"]
        assert info.has_audio == (row["has_audio"] == "yes")
        frames = list(iter_frames(path, fps=25, max_side=640))
        assert len(frames) == frame_count(info.duration, 25)
        assert max(frames[0].image.shape[:2]) <= 640


def test_real_clip_without_audio(clips_dir):
    row = _pick(_manifest(clips_dir), "noaudio", 1, has_audio="no")[0]
    path = clips_dir / row["filename"]
    assert probe(path).has_audio is False
    assert read_audio(path) is None

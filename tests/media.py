"""Test media written with PyAV: flat or given frames, optional audio, odd timestamps."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

CODEC_BY_SUFFIX = {".mp4": "libx264", ".mov": "libx264", ".mkv": "libx264", ".avi": "mpeg4"}
AUDIO_BY_SUFFIX = {".mp4": "aac", ".mov": "aac", ".mkv": "aac", ".avi": "libmp3lame"}


def level(i: int) -> int:
    """Brightness that encodes source frame i (30 distinct levels, 8 apart)."""
    return 12 + 8 * (i % 30)


def sine(seconds: float, rate: int, channels: int, freq: float = 440.0) -> np.ndarray:
    """[channels, samples] float32 sine of amplitude 0.5."""
    t = np.arange(round(seconds * rate)) / rate
    return np.tile(0.5 * np.sin(2 * np.pi * freq * t), (channels, 1)).astype(np.float32)


def write_video(
    path: Path,
    n: int = 10,
    fps: int = 25,
    size: tuple[int, int] = (64, 48),
    *,
    codec: str | None = None,
    pix_fmt: str = "yuv420p",
    pts_ms: list[int] | None = None,
    rotation: int = 0,
    image=None,
    audio: np.ndarray | None = None,
    audio_rate: int = 48000,
    audio_codec: str | None = None,
) -> Path:
    """Frame i is flat grey `level(i)` (or `image(i)`); `pts_ms` gives irregular timestamps;
    `audio` is [channels, samples] float in [-1, 1]."""
    width, height = size
    codec = codec or CODEC_BY_SUFFIX[path.suffix]
    # no B-frames: PyAV then writes exact packet durations for irregular timestamps
    options = {"bf": "0", "crf": "5", "preset": "ultrafast"} if codec == "libx264" else {}
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if codec != "libx264":
            stream.bit_rate = 20_000_000  # near-lossless, so flat levels survive
        time_base = Fraction(1, 1000) if pts_ms else Fraction(1, fps)
        stream.codec_context.time_base = time_base
        if rotation:
            stream.set_display_rotation(rotation)
        audio_stream = None
        if audio is not None:
            layout = "stereo" if audio.shape[0] == 2 else "mono"
            audio_codec = audio_codec or (
                "libopus" if path.suffix == ".webm" else AUDIO_BY_SUFFIX[path.suffix]
            )
            audio_stream = container.add_stream(audio_codec, rate=audio_rate, layout=layout)
        for i in range(n):
            pixels = image(i) if image else np.full((height, width, 3), level(i), np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = (pts_ms[i] if pts_ms else i), time_base
            if pts_ms:
                frame.duration = (pts_ms[i + 1] if i + 1 < n else pts_ms[i] + 40) - pts_ms[i]
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        if audio_stream is not None:
            _write_audio(container, audio_stream, audio, audio_rate)
    return path


def _write_audio(container, stream, samples: np.ndarray, rate: int) -> None:
    layout = "stereo" if samples.shape[0] == 2 else "mono"
    for start in range(0, samples.shape[1], 4800):
        chunk = np.ascontiguousarray(samples[:, start : start + 4800])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        container.mux(stream.encode(frame))
    container.mux(stream.encode())

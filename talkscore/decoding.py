"""Decoding: probe a video, stream upright RGB frames on a fixed timeline, read its audio.

Frames are decoded with PyAV and resampled onto the timeline ``t_k = k / fps`` by sample-and-hold
(the latest source frame shown at or before ``t_k``), which handles variable frame rates and
frame-rate conversion in both directions. Frames are rotated upright from the display matrix and
downscaled as they are decoded, so memory stays at a couple of frames whatever the video's length.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import av
import cv2
import numpy as np

from talkscore.errors import DecodeError

logger = logging.getLogger(__name__)

_TIME_EPS = 1e-6  # seconds: a frame at t_k + eps still counts as shown at t_k
_MAX_BAD_PACKETS = 100  # undecodable packets skipped before decoding gives up
_MIN_GAP_WARN = 0.5  # seconds: decoded video ending this much before its duration is "truncated"
_CV2_ROTATIONS = {
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}


@dataclass(frozen=True)
class VideoInfo:
    """What `probe` finds in a video file."""

    path: str
    duration: float  # seconds of video (stream duration, else container duration)
    native_fps: float | None  # average frame rate of the video stream; None when unknown
    width: int  # displayed width, after rotation
    height: int  # displayed height, after rotation
    rotation: int  # 0/90/180/270: clockwise degrees applied to decoded frames to make them upright
    has_audio: bool
    audio_sample_rate: int | None  # Hz, None without audio
    audio_channels: int | None
    video_codec: str  # FFmpeg decoder name, e.g. "h264"

    def to_dict(self) -> dict:
        """Plain dict of the fields (JSON-ready)."""
        return asdict(self)


@dataclass
class Frame:
    """One frame of the resampled timeline."""

    index: int  # position on the timeline
    time: float  # index / fps, seconds from the start of the video stream
    image: np.ndarray  # RGB uint8 [H, W, 3], upright, max(H, W) <= max_side


def frame_count(duration: float, fps: float) -> int:
    """Number of timeline frames ``t_k = k / fps`` with ``t_k < duration``."""
    return max(0, math.ceil(duration * fps - 1e-6))


def probe(path: str | Path) -> VideoInfo:
    """Read the metadata of a video file (and its first frame, for the rotation).

    Raises DecodeError for missing, empty or unreadable files, files without a video stream and
    videos whose first frame cannot be decoded.
    """
    path = str(path)
    with open_media(path) as container:
        video = video_stream(container, path)
        first = _first_frame(container, video, path)
        rotation = _clockwise_rotation(first.rotation)
        width, height = video.codec_context.width, video.codec_context.height
        if rotation in (90, 270):
            width, height = height, width
        audio = container.streams.audio[0] if container.streams.audio else None
        return VideoInfo(
            path=path,
            duration=_video_duration(container, video, first),
            native_fps=_native_fps(video),
            width=int(width),
            height=int(height),
            rotation=rotation,
            has_audio=audio is not None,
            audio_sample_rate=int(audio.codec_context.sample_rate) if audio else None,
            audio_channels=int(audio.codec_context.channels) if audio else None,
            video_codec=video.codec_context.name,
        )


def iter_frames(
    path: str | Path,
    fps: float = 25.0,
    max_side: int | None = 640,
    max_seconds: float | None = None,
) -> Iterator[Frame]:
    """Upright RGB frames of `path` on the timeline ``k / fps`` for ``k / fps < duration``
    (and ``< max_seconds`` when given).

    The file is probed now (errors raise here); frames are decoded lazily as the returned
    generator is consumed, holding at most a couple of decoded frames. ``max_side=None`` keeps
    the native size. A file that breaks off mid-way yields the frames decoded before the break
    (with a logged warning), skipping undecodable packets; DecodeError only when no frame
    decodes at all.
    """
    _positive(fps, "fps")
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be a positive number of pixels or None, got {max_side}")
    info = probe(path)
    if max_seconds is not None:
        info = replace(info, duration=min(info.duration, _positive(max_seconds, "max_seconds")))
    return _generate_frames(info, fps, max_side)


def read_audio(
    path: str | Path, sample_rate: int = 16000, max_seconds: float | None = None
) -> np.ndarray | None:
    """Mono float32 samples in [-1, 1] at `sample_rate` Hz (the first `max_seconds` when
    given); None when there is no audio stream.

    Works for videos and audio-only files (wav, mp3, ...). Channels are averaged. A stream that
    breaks off mid-way returns the samples decoded before the break (with a logged warning).
    """
    if sample_rate < 1:
        raise ValueError(f"sample_rate must be a positive number of Hz, got {sample_rate}")
    path = str(path)
    with open_media(path) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        stream.thread_type = "AUTO"
        limit = (
            None
            if max_seconds is None
            else round(_positive(max_seconds, "max_seconds") * sample_rate)
        )
        chunks = _decode_audio(container, stream, path, sample_rate, limit)
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.clip(np.concatenate(chunks)[:limit], -1.0, 1.0).astype(np.float32, copy=False)


def _positive(value: float, name: str) -> float:
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return float(value)


# --- opening and probing -------------------------------------------------------------------


def open_media(path: str) -> av.container.InputContainer:
    """av.open with one clear DecodeError for every way a path can fail to be a media file."""
    file = Path(path)
    if not file.exists():
        raise DecodeError(f"file not found: {path}")
    if file.is_dir():
        raise DecodeError(f"{path} is a directory, not a video or audio file")
    if file.stat().st_size == 0:
        raise DecodeError(f"{path} is empty (0 bytes); re-export or re-download it")
    try:
        return av.open(path, metadata_errors="ignore")
    except PermissionError as exc:
        raise DecodeError(f"cannot read {path}: permission denied") from exc
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise DecodeError(
            f"{path} is not a readable video or audio file ({exc}); "
            "expected a complete mp4/mov/mkv/webm/avi (or wav/mp3 for audio)"
        ) from exc


def video_stream(container: av.container.InputContainer, path: str) -> av.VideoStream:
    """The first real video stream (cover art in audio files does not count)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            stream.thread_type = "AUTO"
            return stream
    raise DecodeError(f"{path} has no video stream (an audio-only file?)")


def _first_frame(
    container: av.container.InputContainer, stream: av.VideoStream, path: str
) -> av.VideoFrame:
    """The first decodable frame, or DecodeError."""
    frame = next(_decoded(container, stream, path), None)
    if frame is None:
        raise DecodeError(f"no video frame could be decoded from {path} (empty video stream)")
    return frame


def _video_duration(
    container: av.container.InputContainer, stream: av.VideoStream, first: av.VideoFrame
) -> float:
    """Seconds of video: stream duration, Matroska DURATION tag, packet scan, container duration.

    Called after decoding `first`, the first frame. The container's duration is used directly
    only when the video is its sole stream, since it covers the longest stream (often audio).
    """
    if stream.duration and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    tagged = _parse_clock(stream.metadata.get("DURATION") or stream.metadata.get("duration"))
    if tagged:
        return tagged
    if len(container.streams) > 1 or not container.duration:
        scanned = _scan_duration(container, stream, first)
        if scanned:
            return scanned
    return container.duration / av.time_base if container.duration else 0.0


def _parse_clock(text: str | None) -> float | None:
    """'HH:MM:SS.fffffffff' (Matroska stream tag) in seconds; None when absent or malformed."""
    try:
        hours, minutes, seconds = (text or "").split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


def _scan_duration(
    container: av.container.InputContainer, stream: av.VideoStream, first: av.VideoFrame
) -> float | None:
    """End of the last video packet from here on (demuxing only), from the stream's start."""
    end = None
    try:
        for packet in container.demux(stream):
            if packet.pts is not None:
                stop = packet.pts + (packet.duration or 0)
                end = stop if end is None else max(end, stop)
    except av.FFmpegError as exc:
        logger.debug("packet scan for the duration stopped: %s", exc)
    origin = stream.start_time if stream.start_time is not None else first.pts
    if end is None or origin is None or stream.time_base is None:
        return None
    return float((end - origin) * stream.time_base)


def _native_fps(stream: av.VideoStream) -> float | None:
    """Average frame rate, falling back to FFmpeg's guess; None when neither is known."""
    for rate in (stream.average_rate, stream.guessed_rate):
        if rate is not None and rate > 0:
            return float(rate)
    return None


def _clockwise_rotation(counterclockwise: float) -> int:
    """Display-matrix angle (PyAV: counterclockwise degrees) as clockwise 0/90/180/270."""
    turns = round(counterclockwise / 90.0)
    if abs(counterclockwise - 90.0 * turns) > 1.0:
        logger.warning(
            "display rotation %.1f deg is not a multiple of 90; using %d",
            counterclockwise,
            90 * turns,
        )
    return (-90 * turns) % 360


# --- frames -------------------------------------------------------------------------------


def _generate_frames(info: VideoInfo, fps: float, max_side: int | None) -> Iterator[Frame]:
    """Decode, resample onto the timeline and convert (the body of `iter_frames`)."""
    convert = _Converter(info.rotation, max_side)
    with open_media(info.path) as container:
        stream = video_stream(container, info.path)
        timed = _timed_frames(container, stream, info)
        for index, frame in _sample_and_hold(timed, info, fps):
            yield Frame(index=index, time=index / fps, image=convert(frame))


def _timed_frames(
    container: av.container.InputContainer, stream: av.VideoStream, info: VideoInfo
) -> Iterator[tuple[float, float, av.VideoFrame]]:
    """(start time, end time, frame) in presentation order, times from the stream's start."""
    default_step = 1.0 / (info.native_fps or 25.0)
    origin = stream.start_time
    previous = -default_step
    for frame in _decoded(container, stream, info.path):
        if origin is None and frame.pts is not None:
            origin = frame.pts
        if frame.pts is None:
            start = previous + default_step
        else:
            start = float((frame.pts - origin) * stream.time_base)
        step = float(frame.duration * stream.time_base) if frame.duration else default_step
        previous = start
        yield start, start + step, frame


def _decoded(
    container: av.container.InputContainer, stream: av.stream.Stream, path: str
) -> Iterator[av.VideoFrame | av.AudioFrame]:
    """Decoded frames of `stream`, skipping undecodable packets and stopping where reading fails.

    Problems are logged as warnings; DecodeError when they leave no frame at all.
    """
    count, skipped, problem = 0, 0, None
    packets = container.demux(stream)
    while skipped <= _MAX_BAD_PACKETS:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.FFmpegError as exc:  # demuxing failed: nothing more can be read
            problem = f"reading stopped after {count} {stream.type} frames: {exc}"
            break
        try:
            frames = packet.decode()
        except av.FFmpegError as exc:  # one bad packet: skip it
            skipped, problem = skipped + 1, f"skipped undecodable {stream.type} packets: {exc}"
            continue
        count += len(frames)
        yield from frames
    if problem and count == 0:
        raise DecodeError(f"no {stream.type} could be decoded from {path} ({problem})")
    if problem:
        logger.warning("%s: %s (%d bad packets)", path, problem, skipped)


def _sample_and_hold(
    timed: Iterator[tuple[float, float, av.VideoFrame]], info: VideoInfo, fps: float
) -> Iterator[tuple[int, av.VideoFrame]]:
    """(k, frame shown at k / fps) for the timeline; the latest frame starting at or before it.

    Timeline points before the first frame get the first frame. Once decoding ends, the last
    frame is held to the end of the video, or only to its own end time when decoding ended well
    before the stated duration (a truncated file).
    """
    total = frame_count(info.duration, fps)
    k = 0
    held = None
    end = 0.0
    for start, frame_end, frame in timed:
        end = frame_end
        while k < total and k / fps < start - _TIME_EPS:
            yield k, held if held is not None else frame
            k += 1
        if k >= total:
            return
        held = frame
    if held is None:
        return
    if info.duration - end > max(_MIN_GAP_WARN, 2.0 / (info.native_fps or 25.0)):
        logger.warning(
            "%s: decoded video ends at %.2f s, before its stated duration %.2f s "
            "(truncated or corrupt file?); the timeline stops there",
            info.path,
            end,
            info.duration,
        )
        total = min(total, frame_count(end, fps))
    for index in range(k, total):
        yield index, held


class _Converter:
    """VideoFrame -> upright, downscaled RGB array; a repeated frame is converted only once."""

    def __init__(self, rotation: int, max_side: int | None) -> None:
        self.rotation = rotation
        self.max_side = max_side
        self._last: av.VideoFrame | None = None
        self._image: np.ndarray | None = None

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        if frame is not self._last or self._image is None:
            image = _downscale(frame.to_ndarray(format="rgb24"), self.max_side)
            self._last, self._image = frame, _rotate(image, self.rotation)
        return self._image.copy()  # each Frame owns its array; the cached one stays intact


def _downscale(image: np.ndarray, max_side: int | None) -> np.ndarray:
    """Shrink (never enlarge) so max(H, W) <= max_side, keeping the aspect ratio (INTER_AREA)."""
    height, width = image.shape[:2]
    if max_side is None or max(height, width) <= max_side:
        return image
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _rotate(image: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate by `rotation` degrees clockwise (0/90/180/270)."""
    if rotation == 0:
        return image
    return cv2.rotate(image, _CV2_ROTATIONS[rotation])


# --- audio --------------------------------------------------------------------------------


def _decode_audio(
    container: av.container.InputContainer,
    stream: av.AudioStream,
    path: str,
    sample_rate: int,
    limit: int | None = None,
) -> list[np.ndarray]:
    """Mono float32 chunks at `sample_rate`: resampled by swresample, channels averaged;
    decoding stops once `limit` samples are in."""
    resampler = av.AudioResampler(format="fltp", rate=sample_rate)
    chunks: list[np.ndarray] = []
    decoded = 0
    for frame in _decoded(container, stream, path):
        new = [_mono(out) for out in resampler.resample(frame)]
        chunks.extend(new)
        decoded += sum(map(len, new))
        if limit is not None and decoded >= limit:
            return chunks
    chunks.extend(_mono(out) for out in resampler.resample(None))
    return chunks


def _mono(frame: av.AudioFrame) -> np.ndarray:
    """Planar float frame -> mono float32 vector (mean over channels)."""
    planes = frame.to_ndarray()
    return planes.mean(axis=0, dtype=np.float32) if planes.shape[0] > 1 else planes[0]

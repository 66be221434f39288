"""Undo an audio-visual offset: move a video's audio against its picture, video untouched.

`fix_sync` measures the offset with the learned sync scorer (or takes one) and writes a copy of
the video whose audio is moved by it. The video packets are copied as they are (a remux, no
re-encoding); the audio is decoded, moved by padding silence at one end and cutting as much at
the other (so it keeps its length), and re-encoded as AAC at its own sample rate and channels.

Sign convention (as everywhere in talkscore): offset > 0 means the audio leads the video, so
undoing an offset of +X ms moves the audio X ms later, and -X ms moves it X ms earlier. The audio
is written to start with the video, as talkscore reads it (first sample with first frame).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import numpy as np

from talkscore.decoding import open_media, video_stream
from talkscore.errors import TalkscoreError
from talkscore.files import atomic_write
from talkscore.sync.perception import MIN_CONFIDENCE, reliable, sync_verdict

if TYPE_CHECKING:
    from talkscore.scoring import Scorer

#: containers the fixed video may be written as (all of them take AAC audio)
OUT_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv")
AUDIO_CODEC = "aac"
#: the re-encoded audio's bit rate: the source's, within these bounds (bit/s)
AUDIO_BITRATE = (128_000, 320_000)


class UnreliableOffset(TalkscoreError):
    """The measured offset is too uncertain to act on (see `talkscore.sync.perception`)."""


def measure_offset(
    video: str | Path, scorer: Scorer | None = None, max_seconds: float | None = None
) -> dict[str, Any]:
    """The learned sync scorer's reading of `video` (its first `max_seconds` when given):
    `offset_ms` (> 0: audio leads; None when not measurable), `confidence` and `verdict`.

    `scorer` is a `talkscore.scoring.Scorer` (default: `load_scorer()`); only its extractor runs.
    """
    if scorer is None:
        from talkscore.scoring import load_scorer

        scorer = load_scorer()
    learned = scorer.extract(video, max_seconds=max_seconds).diagnostics.get("sync_scorer") or {}
    offset, confidence = learned.get("sync_scorer_offset_ms"), learned.get("sync_scorer_confidence")
    verdict = sync_verdict(offset, confidence).verdict
    return {"offset_ms": offset, "confidence": confidence, "verdict": verdict}


def fix_sync(
    video: str | Path,
    out: str | Path,
    offset_ms: float | None = None,
    force: bool = False,
    scorer: Scorer | None = None,
    max_seconds: float | None = None,
) -> dict[str, Any]:
    """Write `video` to `out` with its audio moved to undo `offset_ms` (> 0: the audio leads,
    so it is moved later); without `offset_ms`, the offset `measure_offset` finds (on the first
    `max_seconds` when given) with `scorer`.

    Refuses (`UnreliableOffset`) a measured offset whose confidence is under `MIN_CONFIDENCE`,
    unless `force`; refuses (`TalkscoreError`) a video without audio. Returns what it did:
    `video`, `out`, `measured` (`measure_offset`'s dict, None when `offset_ms` was given),
    `applied_ms` (the offset undone: the audio now plays that much later), `video_packets`
    (copied) and `audio` (`codec`, `sample_rate`, `channels`, `layout`, `bit_rate`).
    """
    video, out = Path(video), Path(out)
    _check_paths(video, out)
    measured = None
    if offset_ms is None:
        _source_streams(video)  # no audio: refused before the costly measurement
        measured = measure_offset(video, scorer, max_seconds)
        offset_ms = _offset_to_undo(video, measured, force)
    done = move_audio(video, out, offset_ms)
    return {"video": str(video), "out": str(out), "measured": measured, **done}


def move_audio(video: str | Path, out: str | Path, offset_ms: float) -> dict[str, Any]:
    """Write `video` to `out` with the video packets copied and the audio moved `offset_ms`
    later (earlier when negative), to the nearest sample. Returns `applied_ms`,
    `video_packets` and `audio` (see `fix_sync`)."""
    video, out = Path(video), Path(out)
    _check_paths(video, out)
    if not math.isfinite(offset_ms):
        raise TalkscoreError(f"the offset to undo must be a number of ms, got {offset_ms}")
    with open_media(str(video)) as source:
        _, sound = _streams(source, video)
        rate = sound.codec_context.sample_rate
        shift = round(offset_ms * rate / 1000.0)
        samples = _moved(_decoded_audio(source, sound), shift)
    written: dict[str, Any] = {}

    def write(tmp: str) -> None:
        with open_media(str(video)) as source, av.open(tmp, "w", format=_format(out)) as target:
            picture, sound = _streams(source, video)
            video_out = target.add_stream_from_template(picture)
            audio_out = _audio_encoder(target, sound)
            packets = _encoded(audio_out, samples, picture)
            try:
                written["video_packets"] = _interleave(target, source, picture, video_out, packets)
            except av.FFmpegError as exc:
                raise TalkscoreError(
                    f"cannot write {picture.codec_context.name} video with "
                    f"{audio_out.codec_context.name} audio as {out.suffix} ({exc}); "
                    f"choose another of {', '.join(OUT_SUFFIXES)} for the output"
                ) from exc
            written["audio"] = {
                "codec": audio_out.codec_context.name,
                "sample_rate": rate,
                "channels": audio_out.codec_context.channels,
                "layout": audio_out.codec_context.layout.name,
                "bit_rate": audio_out.codec_context.bit_rate,
            }

    atomic_write(out, write, suffix=out.suffix)
    return {"applied_ms": 1000.0 * shift / rate, **written}


def _check_paths(video: Path, out: Path) -> None:
    if out.suffix.lower() not in OUT_SUFFIXES:
        raise TalkscoreError(
            f"cannot write the fixed video as {out.name}: use one of {', '.join(OUT_SUFFIXES)} "
            "(the audio is re-encoded as AAC)"
        )
    if out.resolve() == video.resolve():
        raise TalkscoreError(f"the output {out} is the input; write the fixed video elsewhere")
    if not out.parent.is_dir():
        raise TalkscoreError(f"cannot write {out}: folder {out.parent} does not exist")


def _offset_to_undo(video: Path, measured: dict[str, Any], force: bool) -> float:
    """The measured offset, when it is confident enough to act on (or `force`)."""
    offset, confidence = measured["offset_ms"], measured["confidence"]
    if offset is None:
        raise UnreliableOffset(
            f"{video}: no audio-visual offset could be measured (no face, or no speech heard); "
            "give the offset to undo with --offset-ms"
        )
    if not force and not reliable(offset, confidence):
        raise UnreliableOffset(
            f"{video}: the offset ({offset:+.0f} ms) was measured with confidence "
            f"{confidence:.3f}, under {MIN_CONFIDENCE}: too uncertain to act on; not moving the "
            "audio (--force applies it anyway, --offset-ms gives the offset)"
        )
    return float(offset)


def _source_streams(video: Path) -> None:
    """Raise the error `_streams` raises for `video`, if any."""
    with open_media(str(video)) as source:
        _streams(source, video)


def _streams(source: av.container.InputContainer, video: Path) -> tuple[av.VideoStream, Any]:
    """The video stream talkscore reads and the first audio stream."""
    picture = video_stream(source, str(video))
    if not source.streams.audio:
        raise TalkscoreError(f"{video} has no audio track: there is no audio to move")
    return picture, source.streams.audio[0]


def _decoded_audio(source: av.container.InputContainer, sound: Any) -> np.ndarray:
    """`[channels, samples]` float32 of the whole track, at its own rate and channels."""
    ctx = sound.codec_context
    resampler = av.AudioResampler(format="fltp", layout=ctx.layout.name, rate=ctx.sample_rate)
    chunks = []
    for packet in source.demux(sound):
        for frame in packet.decode():
            chunks.extend(f.to_ndarray() for f in resampler.resample(frame))
    chunks.extend(f.to_ndarray() for f in resampler.resample(None))
    if not chunks:
        raise TalkscoreError("the audio track holds no decodable sound; there is no audio to move")
    return np.concatenate(chunks, axis=1).astype(np.float32, copy=False)


def _moved(samples: np.ndarray, shift: int) -> np.ndarray:
    """`samples` `[channels, n]` moved `shift` samples later (earlier when < 0), the gap filled
    with silence, the same length."""
    out = np.zeros_like(samples)
    if shift > 0:
        out[:, shift:] = samples[:, : max(0, samples.shape[1] - shift)]
    else:
        out[:, : max(0, samples.shape[1] + shift)] = samples[:, -shift:]
    return out


def _format(out: Path) -> str:
    return {".mkv": "matroska", ".mov": "mov", ".m4v": "mp4"}.get(out.suffix.lower(), "mp4")


def _audio_encoder(target: av.container.OutputContainer, sound: Any) -> Any:
    """An AAC stream at the source's sample rate and channel layout."""
    ctx = sound.codec_context
    stream = target.add_stream(AUDIO_CODEC, rate=ctx.sample_rate, layout=ctx.layout.name)
    low, high = AUDIO_BITRATE
    stream.bit_rate = min(max(sound.bit_rate or ctx.bit_rate or 0, low), high)
    return stream


def _encoded(stream: Any, samples: np.ndarray, picture: av.VideoStream) -> list[av.Packet]:
    """The AAC packets of `samples`, timed to start with the first video frame."""
    layout = stream.codec_context.layout.name
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout=layout)
    rate = stream.codec_context.sample_rate
    start = picture.start_time or 0
    frame.sample_rate, frame.pts = rate, round(start * picture.time_base * rate)
    return [*stream.encode(frame), *stream.encode(None)]


def _interleave(
    target: av.container.OutputContainer,
    source: av.container.InputContainer,
    picture: av.VideoStream,
    video_out: Any,
    audio: Iterable[av.Packet],
) -> int:
    """Mux the video packets of `picture` as they are and the `audio` packets between them, in
    time order; returns the number of video packets."""
    pending = iter(audio)
    next_audio = next(pending, None)
    count = 0
    for packet in source.demux(picture):
        if packet.size == 0:  # the demuxer's empty flush packet
            continue
        while next_audio is not None and _seconds(next_audio) <= _seconds(packet):
            target.mux(next_audio)
            next_audio = next(pending, None)
        packet.stream = video_out
        target.mux(packet)
        count += 1
    if next_audio is not None:
        target.mux(next_audio)
    target.mux(list(pending))
    return count


def _seconds(packet: av.Packet) -> float:
    """When the packet is decoded (Matroska leaves the dts of the first B-frame packets unset)."""
    time = packet.dts if packet.dts is not None else packet.pts
    return float(time * packet.time_base)

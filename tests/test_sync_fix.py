"""`talkscore sync-fix`: the audio moved by the offset, the video packets copied as they are."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
from media import write_video
from typer.testing import CliRunner

from talkscore.cli import app
from talkscore.decoding import iter_frames, probe, read_audio
from talkscore.errors import TalkscoreError
from talkscore.sync.repair import UnreliableOffset, fix_sync, measure_offset, move_audio
from talkscore.training.degradations import FPS, SAMPLE_RATE, write_mp4

runner = CliRunner()

CLIP = "real/pcavs_Pose_Source_00067.mp4"  # 4.6 s, in sync, confidently measured (0.6)
FRAME_MS = 1000.0 / FPS
RATE = 48000
CLICK_S = 0.5


def video_packets(path: Path) -> list[bytes]:
    """The bytes of every packet of the video stream, in file order."""
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.video[0]) if p.size]


def click_video(path: Path) -> Path:
    """1.2 s of rotated video with stereo audio that is silent but for a click at 0.5 s."""
    audio = np.zeros((2, int(1.2 * RATE)), np.float32)
    audio[:, int(CLICK_S * RATE) : int(CLICK_S * RATE) + 240] = 0.8
    return write_video(path, n=30, rotation=90, audio=audio, audio_rate=RATE)


def click_time(path: Path) -> float:
    audio = read_audio(path, RATE)
    return float(np.argmax(np.abs(audio) > 0.3)) / RATE


class FakeScorer:
    """Stands in for a Scorer: its extractor 'measures' the given offset and confidence."""

    def __init__(self, offset_ms: float | None, confidence: float | None) -> None:
        learned = {} if offset_ms is None else {"sync_scorer_offset_ms": offset_ms}
        learned |= {} if confidence is None else {"sync_scorer_confidence": confidence}
        self.learned, self.calls = learned, 0

    def extract(self, video, max_seconds=None) -> SimpleNamespace:
        self.calls += 1
        return SimpleNamespace(diagnostics={"sync_scorer": self.learned})


@pytest.mark.parametrize("offset_ms", [100.0, -100.0, 37.5, 0.0])
@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_the_audio_moves_and_the_video_is_copied(tmp_path, offset_ms, suffix) -> None:
    source = click_video(tmp_path / "clip.mp4")
    out = tmp_path / f"fixed{suffix}"
    done = move_audio(source, out, offset_ms)
    assert done["applied_ms"] == offset_ms
    # fixing an offset of +X (audio leads) moves the audio X ms later
    assert click_time(out) == pytest.approx(CLICK_S + offset_ms / 1000, abs=0.5e-3)
    assert len(read_audio(out, RATE)) == len(read_audio(source, RATE))  # same length
    assert video_packets(out) == video_packets(source)
    info = probe(out)
    assert info.rotation == probe(source).rotation != 0
    assert (info.audio_sample_rate, info.audio_channels) == (RATE, 2)
    assert done["video_packets"] == 30
    assert (done["audio"]["codec"], done["audio"]["layout"]) == ("aac", "stereo")


def test_a_video_without_audio_is_refused_before_measuring(tmp_path) -> None:
    silent = write_video(tmp_path / "mute.mp4", n=10)
    scorer = FakeScorer(80.0, 0.5)
    with pytest.raises(TalkscoreError, match="has no audio track"):
        fix_sync(silent, tmp_path / "out.mp4", scorer=scorer)
    with pytest.raises(TalkscoreError, match="has no audio track"):
        fix_sync(silent, tmp_path / "out.mp4", offset_ms=40)
    assert scorer.calls == 0 and not (tmp_path / "out.mp4").exists()


def test_bad_outputs_are_refused(tmp_path) -> None:
    source = click_video(tmp_path / "clip.mp4")
    for out, message in [
        (tmp_path / "out.webm", "use one of .mp4, .mov, .m4v, .mkv"),
        (source, "is the input"),
        (tmp_path / "nowhere" / "out.mp4", "does not exist"),
    ]:
        with pytest.raises(TalkscoreError, match=message):
            fix_sync(source, out, offset_ms=40)


def test_an_uncertain_offset_is_applied_only_when_forced(tmp_path) -> None:
    source, out = click_video(tmp_path / "clip.mp4"), tmp_path / "out.mp4"
    with pytest.raises(UnreliableOffset, match=r"confidence 0\.040, under 0\.1.*--force"):
        fix_sync(source, out, scorer=FakeScorer(120.0, 0.04))
    assert not out.exists()
    done = fix_sync(source, out, force=True, scorer=FakeScorer(120.0, 0.04))
    assert done["measured"] == {"offset_ms": 120.0, "confidence": 0.04, "verdict": "uncertain"}
    assert done["applied_ms"] == 120.0
    with pytest.raises(UnreliableOffset, match="no audio-visual offset could be measured"):
        fix_sync(source, out, force=True, scorer=FakeScorer(None, None))
    done = fix_sync(source, out, offset_ms=-40.0, scorer=FakeScorer(None, None))
    assert done["measured"] is None and done["applied_ms"] == -40.0


# -- on a real recording ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scorer(face_model):
    from talkscore.scoring import load_scorer

    return load_scorer(device="cpu", face_model=face_model)


@pytest.fixture(scope="module")
def recording(clips_dir) -> tuple[list[np.ndarray], np.ndarray]:
    """The frames (at 25 fps) and 16 kHz audio of a real clip that is in sync."""
    path = clips_dir / CLIP
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return [f.image for f in iter_frames(path, FPS, None)], read_audio(path, SAMPLE_RATE)


def shifted(recording, offset_ms: float, path: Path) -> Path:
    """The recording re-encoded with its audio `offset_ms` ahead of the picture (> 0: leads)."""
    frames, audio = recording
    n = round(abs(offset_ms) * SAMPLE_RATE / 1000)
    gap = np.zeros(n, np.float32)
    audio = np.concatenate([audio[n:], gap] if offset_ms > 0 else [gap, audio[:-n]])
    write_mp4(path, frames, audio)
    return path


@pytest.mark.parametrize("offset_ms", [80.0, -80.0, 200.0, -200.0, 400.0, -400.0])
def test_a_shifted_recording_reads_in_sync_once_fixed(
    tmp_path, scorer, recording, offset_ms
) -> None:
    source = shifted(recording, offset_ms, tmp_path / "shifted.mp4")
    done = fix_sync(source, tmp_path / "fixed.mp4", scorer=scorer)
    assert abs(done["measured"]["offset_ms"] - offset_ms) <= FRAME_MS, done
    assert done["applied_ms"] == done["measured"]["offset_ms"]
    after = measure_offset(tmp_path / "fixed.mp4", scorer)
    assert abs(after["offset_ms"]) <= FRAME_MS, (done, after)
    assert after["verdict"] == "in_sync"
    assert video_packets(tmp_path / "fixed.mp4") == video_packets(source)


def test_the_command_prints_the_offset_and_what_it_did(tmp_path, recording, face_model) -> None:
    source = shifted(recording, 200.0, tmp_path / "shifted.mp4")
    out = tmp_path / "fixed.mp4"
    args = ["sync-fix", str(source), "--out", str(out), "--face-model", str(face_model)]
    result = runner.invoke(app, [*args, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("measured: offset +200 ms (> 0: audio leads), confidence 0.")
    assert lines[0].endswith("verdict out_of_sync")
    assert lines[1] == "applied: audio moved 200 ms later"
    assert lines[2].startswith(f"wrote {out}: video copied (") and out.is_file()


def test_the_command_refuses_a_clip_without_speech(tmp_path, recording, face_model) -> None:
    """Silence in place of the speech: the offset is not measured confidently."""
    frames, audio = recording
    source = tmp_path / "silent.mp4"
    write_mp4(source, frames, np.zeros_like(audio))
    out = tmp_path / "fixed.mp4"
    args = ["sync-fix", str(source), "--out", str(out), "--face-model", str(face_model)]
    result = runner.invoke(app, [*args, "--device", "cpu"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "too uncertain to act on" in lines[0] and "--force" in lines[0]
    assert not out.exists()

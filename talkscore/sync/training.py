"""Training and measuring the learned sync scorer on prepared clip streams."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from talkscore.runtime import seed_everything
from talkscore.settings import Settings
from talkscore.sync.network import SyncConfig, SyncNet, info_nce_loss, windows
from talkscore.sync.scorer import SyncScore, SyncScorer


@dataclass
class ClipStreams:
    """Prepared sync inputs of one clip (see `sync_scorer.mouth_features`, `audio_features`)."""

    name: str
    identity: str
    mouth: np.ndarray  # [T, mouth_dim]
    mouth_ok: np.ndarray  # [T]
    audio: list[np.ndarray]  # variants [T, audio_dim]: clean first, then augmented (noisy)
    audio_ok: np.ndarray  # [T]
    source: str = ""  # e.g. "real" or "generated"; sources can be sampled equally often


@dataclass(frozen=True)
class SyncTrainConfig(Settings):
    """Options of `train_sync_net`."""

    # optimiser steps, anchors per step, AdamW learning rate and weight decay
    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    # std of Gaussian noise added to the standardised mouth features (landmark jitter)
    mouth_jitter: float = 0.1
    # share of anchors drawn from each clip source, e.g. {"real": 0.9, "generated": 0.1}
    # (None: every usable frame equally often). Real recordings should define "in sync";
    # left to their numbers, the generated clips would.
    source_shares: dict[str, float] | None = None
    seed: int = 0


def stretch(clip: ClipStreams, factor: float) -> ClipStreams:
    """The clip played `factor` times slower (>1) or faster (<1): every stream resampled on one
    new timeline by linear interpolation, so mouth and audio stay aligned (speed jitter)."""
    n = len(clip.mouth)
    times = np.arange(0, n - 1, 1.0 / factor)

    def resample(x: np.ndarray) -> np.ndarray:
        low = np.floor(times).astype(int)
        frac = (times - low)[:, None].astype(np.float32)
        high = np.minimum(low + 1, n - 1)
        return (1 - frac) * x[low] + frac * x[high]

    def valid(ok: np.ndarray) -> np.ndarray:
        low = np.floor(times).astype(int)
        return ok[low] & ok[np.minimum(low + 1, n - 1)]

    return ClipStreams(
        name=f"{clip.name}@x{factor:g}",
        identity=clip.identity,
        mouth=resample(clip.mouth),
        mouth_ok=valid(clip.mouth_ok),
        audio=[resample(a) for a in clip.audio],
        audio_ok=valid(clip.audio_ok),
        source=clip.source,
    )


def _anchor_frames(clip: ClipStreams, config: SyncConfig) -> np.ndarray:
    """Frames whose window and every lagged audio window lie inside the clip and are valid."""
    reach = config.max_lag + config.window // 2
    t = np.arange(reach, len(clip.mouth) - reach)
    ok = clip.mouth_ok[t] & clip.audio_ok[t - config.max_lag] & clip.audio_ok[t + config.max_lag]
    return t[ok]


def train_sync_net(
    clips: Sequence[ClipStreams],
    config: SyncConfig | None = None,
    train: SyncTrainConfig | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> SyncNet:
    """Contrastive training (InfoNCE over lags and other clips) on `clips`."""
    config, train = config or SyncConfig(), train or SyncTrainConfig()
    generator = seed_everything(train.seed)
    rng = np.random.default_rng(train.seed)
    model = SyncNet(config)
    anchors = [(i, t) for i, clip in enumerate(clips) for t in _anchor_frames(clip, config)]
    if len({i for i, _ in anchors}) < 2:
        raise ValueError("sync training needs at least two clips with usable frames")
    weights = _anchor_weights(anchors, clips, train.source_shares)
    mouth_windows = [windows(c.mouth, config.window) for c in clips]
    audio_windows = [[windows(a, config.window) for a in c.audio] for c in clips]
    optimizer = torch.optim.AdamW(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(1.0, s / train.steps)))
    )
    lags = np.arange(-config.max_lag, config.max_lag + 1)
    model.train()
    for step in range(train.steps):
        chosen = rng.choice(len(anchors), train.batch_size, replace=False, p=weights)
        picks = [anchors[k] for k in chosen]
        variants = [rng.integers(len(clips[i].audio)) for i, _ in picks]
        mouth = torch.stack([mouth_windows[i][t] for i, t in picks])
        mouth = mouth + train.mouth_jitter * torch.randn(mouth.shape, generator=generator)
        audio = torch.stack(
            [audio_windows[i][v][t + lags] for (i, t), v in zip(picks, variants, strict=True)]
        )
        foreign = audio[:, config.max_lag]
        loss = info_nce_loss(model, mouth, audio, foreign)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if on_step:
            on_step(step, float(loss.detach()))
    return model.eval()


def _anchor_weights(
    anchors, clips: Sequence[ClipStreams], shares: dict[str, float] | None
) -> np.ndarray:
    """Sampling probability of each anchor: uniform, or `shares[source]` in total per source."""
    if not shares:
        return np.full(len(anchors), 1.0 / len(anchors))
    sources = np.array([clips[i].source for i, _ in anchors])
    missing = set(sources) - set(shares)
    if missing:
        raise ValueError(f"source_shares has no share for clip sources {sorted(missing)}")
    counts = {source: int((sources == source).sum()) for source in set(sources)}
    weights = np.array([shares[s] / counts[s] for s in sources])
    return weights / weights.sum()


def shift_audio(clip: ClipStreams, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """The clean audio stream delayed by `frames` (advanced when negative), with its validity."""
    audio, ok = clip.audio[0], clip.audio_ok
    out, out_ok = np.zeros_like(audio), np.zeros_like(ok)
    n = len(audio)
    if frames >= 0:
        out[frames:], out_ok[frames:] = audio[: n - frames], ok[: n - frames]
    else:
        out[:frames], out_ok[:frames] = audio[-frames:], ok[-frames:]
    return out, out_ok


SHIFTS = (2, -2, 4, -4, 8, -8)  # frames the audio is delayed by in the checks
WINDOW_FRAMES = 50  # 2 s windows at 25 fps


@dataclass
class SyncEvaluation:
    """How well a scorer recovers known offsets on held-out clips (every number is a share)."""

    clip_shift_recovered: float  # applied shift recovered within +-1 frame, whole clips
    window_shift_recovered: float  # the same on 2 s windows
    unshifted_within_1: float  # unshifted clips whose offset is within +-1 frame
    foreign_lower_confidence: float  # foreign audio scores lower confidence than the own audio
    clips: int = 0
    # clip name -> {"offset_frames", "confidence"} of the unshifted clip
    details: dict = field(default_factory=dict)


def evaluate_sync(
    scorer: SyncScorer,
    clips: Sequence[ClipStreams],
    shifts: Sequence[int] = SHIFTS,
    fps: float = 25.0,
    window_frames: int = WINDOW_FRAMES,
) -> SyncEvaluation:
    """Shift recovery on whole clips and 2 s windows, unshifted offsets, foreign audio."""
    return _pooled(clips, _group_checks(scorer, clips, shifts, fps, window_frames))


def identity_folds(clips: Sequence[ClipStreams], folds: int, seed: int = 0) -> list[int]:
    """Fold index of each clip: identities dealt round-robin in a seeded order, so that no
    person's clips are in two folds."""
    people = np.random.default_rng(seed).permutation(sorted({c.identity for c in clips}))
    if len(people) < folds:
        raise ValueError(f"{folds} folds need at least {folds} identities, got {len(people)}")
    fold_of = {person: i % folds for i, person in enumerate(people)}
    return [fold_of[c.identity] for c in clips]


def cross_validate_sync(
    clips: Sequence[ClipStreams],
    train: Callable[[list[ClipStreams]], SyncScorer],
    folds: int = 4,
    seed: int = 0,
    fps: float = 25.0,
    shifts: Sequence[int] = SHIFTS,
) -> SyncEvaluation:
    """`evaluate_sync` pooled over identity folds: every clip is scored by a scorer that `train`
    built without any clip of its person (foreign audio comes from the same fold)."""
    fold = identity_folds(clips, folds, seed)
    ordered, checks = [], []
    for k in range(folds):
        scorer = train([c for c, f in zip(clips, fold, strict=True) if f != k])
        held = [c for c, f in zip(clips, fold, strict=True) if f == k]
        checks += _group_checks(scorer, held, shifts, fps, WINDOW_FRAMES)
        ordered += held
    return _pooled(ordered, checks)


@dataclass
class _ClipCheck:
    """The checks of one clip (see `_clip_checks`)."""

    own: SyncScore  # the clip as it is
    clip_hits: list[bool]  # per applied shift: recovered within +-1 frame
    window_hits: list[bool]  # the same per 2 s window
    foreign_lower: bool  # another clip's audio scores lower confidence


def _group_checks(
    scorer: SyncScorer,
    clips: Sequence[ClipStreams],
    shifts: Sequence[int],
    fps: float,
    window_frames: int,
) -> list[_ClipCheck]:
    """`_clip_checks` of every clip, the next clip of the group giving the foreign audio."""
    return [
        _clip_checks(scorer, clip, clips[(i + 1) % len(clips)], shifts, fps, window_frames)
        for i, clip in enumerate(clips)
    ]


def _clip_checks(
    scorer: SyncScorer,
    clip: ClipStreams,
    other: ClipStreams,
    shifts: Sequence[int],
    fps: float,
    window_frames: int,
) -> _ClipCheck:
    """The checks of one clip: its own offset, shifted copies, `other`'s audio as foreign."""
    own = scorer.score_streams(clip.mouth, clip.mouth_ok, clip.audio[0], clip.audio_ok, fps)
    clip_hits, window_hits = [], []
    for s in shifts:  # delaying the audio by s frames lowers the offset by s
        audio, ok = shift_audio(clip, s)
        result = scorer.score_streams(clip.mouth, clip.mouth_ok, audio, ok, fps)
        clip_hits.append(abs(result.offset_frames - (own.offset_frames - s)) <= 1)
        window_hits += _window_hits(
            scorer, clip, audio, ok, own.offset_frames - s, fps, window_frames
        )
    n = min(len(clip.mouth), len(other.audio[0]))
    alien = scorer.score_streams(
        clip.mouth[:n], clip.mouth_ok[:n], other.audio[0][:n], other.audio_ok[:n], fps
    )
    return _ClipCheck(own, clip_hits, window_hits, alien.confidence < own.confidence)


def _pooled(clips: Sequence[ClipStreams], checks: Sequence[_ClipCheck]) -> SyncEvaluation:
    window_hits = [hit for c in checks for hit in c.window_hits]
    return SyncEvaluation(
        clip_shift_recovered=float(np.mean([hit for c in checks for hit in c.clip_hits])),
        window_shift_recovered=float(np.mean(window_hits)) if window_hits else float("nan"),
        unshifted_within_1=float(np.mean([abs(c.own.offset_frames) <= 1 for c in checks])),
        foreign_lower_confidence=float(np.mean([c.foreign_lower for c in checks])),
        clips=len(clips),
        details={
            clip.name: {
                "offset_frames": c.own.offset_frames,
                "confidence": round(c.own.confidence, 4),
            }
            for clip, c in zip(clips, checks, strict=True)
        },
    )


def _window_hits(scorer, clip, audio, ok, expected: int, fps: float, size: int) -> list[bool]:
    hits = []
    for start in range(0, len(clip.mouth) - size + 1, size):
        part = slice(start, start + size)
        result = scorer.score_streams(
            clip.mouth[part], clip.mouth_ok[part], audio[part], ok[part], fps
        )
        if np.isfinite(result.curve).any():
            hits.append(abs(result.offset_frames - expected) <= 1)
    return hits

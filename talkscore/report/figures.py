"""The figures of a video's report (matplotlib, Agg canvas only; no pyplot state).

Each `plot_*` draws on axes it is given, so the HTML page (one figure per section) and the
one-page PNG (`talkscore report --png`) share the drawing code.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from talkscore.extraction import VideoFeatures
from talkscore.scoring import VideoScore
from talkscore.sync.scorer import mean_curve

DPI = 100
COLOURS = {
    "lip_sync": "#1f77b4",
    "expression": "#2ca02c",
    "audio_quality": "#9467bd",
    "cross_modal": "#ff7f0e",
    "overall": "#d62728",
}
WORST_WINDOWS = 3


def png_bytes(figure: Figure) -> bytes:
    """The figure rendered as PNG."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def worst_windows(timeline: Sequence[dict[str, Any]], count: int = WORST_WINDOWS) -> list[int]:
    """Indices of the windows with the lowest mean score (scored windows only)."""
    means = [_mean_score(w) for w in timeline]
    order = [
        i for i in np.argsort([np.inf if m is None else m for m in means]) if means[i] is not None
    ]
    return sorted(order[:count])


def best_window(timeline: Sequence[dict[str, Any]]) -> int | None:
    means = [_mean_score(w) for w in timeline]
    scored = [i for i, m in enumerate(means) if m is not None]
    return max(scored, key=lambda i: means[i]) if scored else None


def _mean_score(window: dict[str, Any]) -> float | None:
    values = [v for v in window["scores"].values() if v is not None]
    return float(np.mean(values)) if values else None


def plot_scores(ax_scores, ax_gates, result: VideoScore) -> None:
    """Scores with 95% intervals (unscored tasks named), and the modality gates."""
    tasks = list(result.scores)
    for row, task in enumerate(tasks):
        value = result.scores[task]
        if value is None:
            ax_scores.text(1.05, row, "not scored", va="center", color="grey")
            continue
        low, high = result.intervals[task]
        ax_scores.barh(row, value - 1, left=1, color=COLOURS.get(task, "grey"), alpha=0.8)
        ax_scores.errorbar(
            value, row, xerr=[[value - low], [high - value]], color="black", capsize=4
        )
        ax_scores.text(1.05, row, f"{value:.2f}", va="center", color="white", weight="bold")
    ax_scores.set(yticks=range(len(tasks)), yticklabels=tasks, xlim=(1, 5), title="scores (95%)")
    ax_scores.invert_yaxis()
    names = list(result.gates)
    ax_gates.barh(range(len(names)), [result.gates[m] for m in names], color="#7f7f7f")
    ax_gates.set(yticks=range(len(names)), yticklabels=names, xlim=(0, 1), title="modality gates")
    ax_gates.invert_yaxis()


def plot_timeline(ax, result: VideoScore) -> None:
    """Per-window scores over time; the worst windows shaded and labelled."""
    timeline = result.timeline or []
    centres = [(w["start_s"] + w["end_s"]) / 2 for w in timeline]
    for task in result.scores:
        values = [np.nan if w["scores"][task] is None else w["scores"][task] for w in timeline]
        ax.plot(centres, values, marker="o", ms=3, label=task, color=COLOURS.get(task))
    for index in worst_windows(timeline):
        w = timeline[index]
        ax.axvspan(w["start_s"], w["end_s"], color="red", alpha=0.12)
        ax.annotate(f"{w['start_s']:.0f}-{w['end_s']:.0f} s", (centres[index], 1.15),
                    ha="center", fontsize=8, color="darkred")  # fmt: skip
    ax.set(ylim=(1, 5), xlabel="time (s)", ylabel="score", title="scores per window (worst shaded)")
    ax.legend(fontsize=7, ncol=5, loc="upper center")


def plot_mouth_and_speech(ax, features: VideoFeatures) -> None:
    """Mouth opening against the speech envelope (each standardised) over time."""
    fps = features.diagnostics["fps"]
    times = np.arange(features.num_frames) / fps
    for key, label, colour in (
        ("mouth_opening", "mouth opening", "#1f77b4"),
        ("speech_envelope", "speech envelope", "#ff7f0e"),
    ):
        values = features.extras.get(key)
        if values is not None and np.isfinite(values).sum() > 1:
            ax.plot(times, _standardised(values), label=label, color=colour, lw=1)
    ax.set(xlabel="time (s)", ylabel="z-score", title="mouth opening vs speech envelope")
    ax.legend(fontsize=7, loc="upper right")


def plot_lag_curves(ax, features: VideoFeatures, result: VideoScore) -> None:
    """Lag curves of the learned sync scorer and the correlation diagnostic, offsets marked."""
    fps = features.diagnostics["fps"]
    similarity = features.extras.get("sync_scorer_similarity")
    curves = [("correlation diagnostic", features.sync_curve, "av_offset_ms", "#7f7f7f")]
    if similarity is not None:
        curves.insert(
            0, ("sync scorer", mean_curve(similarity), "sync_scorer_offset_ms", "#1f77b4")
        )
    for label, curve, key, colour in curves:
        if not np.isfinite(curve).any():
            continue
        # curve index i is lag i - L (audio minus video); offset > 0 (audio leads) is lag < 0
        offsets_ms = -1000.0 * (np.arange(len(curve)) - len(curve) // 2) / fps
        ax.plot(offsets_ms, _standardised(curve), label=label, color=colour)
        offset = result.diagnostics.get(key)
        if offset is not None:
            ax.axvline(offset, color=colour, ls="--", lw=1)
    ax.axvline(0, color="black", lw=0.5)
    ax.set(xlabel="offset (ms, > 0: audio leads)", ylabel="z-score", title="lag curves")
    ax.legend(fontsize=7)


def plot_dnsmos(ax, features: VideoFeatures) -> None:
    """DNSMOS (OVRL, SIG, BAK) of each audio window."""
    windows = features.diagnostics.get("dnsmos_windows") or []
    for key, colour in (("ovrl", "#9467bd"), ("sig", "#2ca02c"), ("bak", "#8c564b")):
        ys, starts, ends = ([w[k] for w in windows] for k in (key, "start", "end"))
        ax.hlines(ys, starts, ends, label=key.upper(), color=colour, lw=2)
    if not windows:
        ax.text(0.5, 0.5, "no audio", ha="center", va="center", transform=ax.transAxes)
    ax.set(ylim=(1, 5), xlabel="time (s)", ylabel="MOS", title="DNSMOS per window")
    ax.legend(fontsize=7)


def plot_face_coverage(ax, features: VideoFeatures) -> None:
    """Share of frames with a face, over 1 s around each frame."""
    fps = features.diagnostics["fps"]
    mask = features.masks["keypoint"].astype(float)
    kernel = np.ones(max(1, round(fps)))
    counts = np.convolve(np.ones_like(mask), kernel, mode="same")
    smooth = np.convolve(mask, kernel, mode="same") / counts
    ax.fill_between(np.arange(len(mask)) / fps, smooth, color="#17becf", alpha=0.6)
    ax.set(ylim=(0, 1.05), xlabel="time (s)", ylabel="share", title="face coverage")


def section_figures(result: VideoScore, features: VideoFeatures) -> dict[str, bytes]:
    """PNG bytes of the report's figures by section name."""
    figures = {}
    figure = Figure(figsize=(10, 3))
    plot_scores(*figure.subplots(1, 2, gridspec_kw={"width_ratios": (3, 2)}), result)
    figures["scores"] = png_bytes(figure)
    if result.timeline:
        figure = Figure(figsize=(10, 3.2))
        plot_timeline(figure.subplots(), result)
        figures["timeline"] = png_bytes(figure)
    figure = Figure(figsize=(10, 3))
    left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": (3, 2)})
    plot_mouth_and_speech(left, features)
    plot_lag_curves(right, features, result)
    figures["sync"] = png_bytes(figure)
    figure = Figure(figsize=(10, 2.8))
    left, right = figure.subplots(1, 2)
    plot_dnsmos(left, features)
    plot_face_coverage(right, features)
    figures["audio_face"] = png_bytes(figure)
    return figures


def summary_figure(result: VideoScore, features: VideoFeatures) -> bytes:
    """Every panel on one page (the `--png` form of the report)."""
    figure = Figure(figsize=(11, 13))
    grid = figure.add_gridspec(4, 2, height_ratios=(1, 1, 1, 1), hspace=0.55, wspace=0.3)
    plot_scores(figure.add_subplot(grid[0, 0]), figure.add_subplot(grid[0, 1]), result)
    plot_timeline(figure.add_subplot(grid[1, :]), result)
    plot_mouth_and_speech(figure.add_subplot(grid[2, 0]), features)
    plot_lag_curves(figure.add_subplot(grid[2, 1]), features, result)
    plot_dnsmos(figure.add_subplot(grid[3, 0]), features)
    plot_face_coverage(figure.add_subplot(grid[3, 1]), features)
    figure.suptitle(result.video, fontsize=10)
    return png_bytes(figure)


def _standardised(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, np.float64)
    finite = np.isfinite(values)
    if finite.sum() < 2:
        return values
    spread = values[finite].std() or 1.0
    return (values - values[finite].mean()) / spread

"""A self-contained HTML report of one scored video (`talkscore report`), and the index page of
a batch's reports (`talkscore batch --report-dir`).

The page needs no network when viewed: figures and face thumbnails are embedded as base64 PNGs,
the style is inline, and the index sorts its table with a few lines of inline script.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from talkscore import __version__
from talkscore.decoding import iter_frames
from talkscore.extraction import VideoFeatures
from talkscore.files import atomic_write
from talkscore.report.figures import best_window, section_figures, summary_figure, worst_windows
from talkscore.report.readable import diagnostic_rows, offset_text, score_cells
from talkscore.scoring import Scorer, VideoScore, load_scorer
from talkscore.signals import SIGNALS
from talkscore.timeline import Timeline

THUMBNAIL_SIDE = 160
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.3em; word-break: break-all; } h2 { font-size: 1.1em; margin-top: 1.6em; }
table { border-collapse: collapse; } td, th { padding: 3px 10px; border-bottom: 1px solid #ddd; }
th { text-align: left; cursor: pointer; } img.figure { max-width: 100%; }
.warning { color: #a15c00; } .thumbs { display: flex; gap: 1em; flex-wrap: wrap; }
.thumbs figure { margin: 0; } figcaption { font-size: 0.85em; color: #555; }
"""


def make_report(
    video: str | Path,
    out: str | Path,
    scorer: Scorer | None = None,
    png: str | Path | None = None,
    max_seconds: float | None = None,
    timeline: Timeline | None = None,
) -> VideoScore:
    """Score `video` (with its timeline) and write the HTML report to `out` (and the one-page
    PNG to `png`); returns the scores."""
    scorer = scorer or load_scorer()
    features = scorer.extract(video, max_seconds=max_seconds)
    result = scorer.score_features(features, str(video), timeline or Timeline())
    write_report(result, features, video, out, png)
    return result


def write_report(
    result: VideoScore,
    features: VideoFeatures,
    video: str | Path,
    out: str | Path,
    png: str | Path | None = None,
) -> None:
    """Write the report of an already scored video (its timeline included when it has one)."""
    figures = section_figures(result, features)
    thumbs = _thumbnails(video, features, result.timeline or [])
    page = _page(result, figures, thumbs)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
    if png is not None:
        picture = summary_figure(result, features)
        atomic_write(png, lambda tmp: Path(tmp).write_bytes(picture), suffix=".png")


def report_name(video: str | Path) -> str:
    """A report file name unique to a video path (its stem plus a short hash of the path)."""
    digest = hashlib.sha1(str(Path(video).resolve()).encode()).hexdigest()[:8]
    return f"{Path(video).stem[:60]}-{digest}.html"


def _page(result: VideoScore, figures: dict[str, bytes], thumbs: list[tuple]) -> str:
    e = html.escape
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>talkscore: {e(result.video)}"
        f"</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(result.video)}</h1>",
        f"<p>model <code>{e(result.model)}</code>, talkscore {__version__}, {created}</p>",
        "<h2>Scores</h2>",
        _scores_table(result),
        *(f"<p class='warning'>warning: {e(w)}</p>" for w in result.warnings),
        _figure(figures["scores"], "scores and modality gates"),
    ]
    if "timeline" in figures:
        parts += ["<h2>Timeline</h2>", _figure(figures["timeline"], "scores per window")]
        parts.append(_worst_list(result.timeline))
    parts += [
        "<h2>Lip sync</h2>",
        _sync_verdict(result),
        _figure(figures["sync"], "mouth opening, speech envelope and lag curves"),
        "<h2>Audio and face</h2>",
        _figure(figures["audio_face"], "DNSMOS per window and face coverage"),
    ]
    if thumbs:
        parts += ["<h2>Faces from the best and worst windows</h2>", "<div class='thumbs'>"]
        parts += [
            f"<figure><img src='data:image/png;base64,{_b64(png)}' alt='{e(label)}'>"
            f"<figcaption>{e(label)}</figcaption></figure>"
            for label, png in thumbs
        ]
        parts.append("</div>")
    if result.diagnostics.get("signals"):
        parts += [
            "<h2>Signals against real recordings</h2>",
            "<p>The dynamics THEval judges by their closeness to real recordings (lip, silent "
            "lip, eyebrow and head motion, blinks) are also in <code>diagnostics.realism</code>."
            "</p>",
            _signals_table(result),
        ]
    parts += ["<h2>Diagnostics</h2>", _diagnostics_table(result), "</body></html>"]
    return "\n".join(parts)


def _signals_table(result: VideoScore) -> str:
    """Each named signal with what it measures, which way is better and where it sits among
    the real recordings of the reference."""
    rows = [
        "<table><tr><th>signal</th><th>value</th><th>better</th><th>real recordings below</th>"
        "<th>distance from real (IQR)</th><th>what it measures</th></tr>"
    ]
    for name, entry in result.diagnostics["signals"].items():
        cells = [
            "-" if entry[k] is None else f"{entry[k]:.3g}"
            for k in ("value", "real_percentile", "real_distance")
        ]
        better = {"real": "closest to real"}.get(entry["better"], entry["better"])
        about = SIGNALS[name].about if name in SIGNALS else ""
        rows.append(
            f"<tr><td>{name}</td><td>{cells[0]}</td><td>{better}</td><td>{cells[1]}</td>"
            f"<td>{cells[2]}</td><td>{html.escape(about)}</td></tr>"
        )
    return "".join(rows) + "</table>"


def _scores_table(result: VideoScore) -> str:
    rows = ["<table><tr><th>task</th><th>score</th><th>band</th><th>95% interval</th></tr>"]
    for task in result.scores:
        cells = "".join(f"<td>{html.escape(c)}</td>" for c in score_cells(result, task))
        rows.append(f"<tr><td>{task}</td>{cells}</tr>")
    return "".join(rows) + "</table>"


def _sync_verdict(result: VideoScore) -> str:
    verdict = result.diagnostics.get("sync_verdict")
    if not verdict:
        return ""
    return (
        f"<p>Audio-visual sync: <b>{verdict['verdict'].replace('_', ' ')}</b>, offset "
        f"{html.escape(offset_text(verdict['offset_ms']))} (people notice audio leading by more "
        "than 45 ms or lagging by more than 125 ms, and accept up to +90 / -185 ms: ITU-R "
        "BT.1359; offsets measured with a confidence under "
        f"{verdict['min_confidence']:g} are uncertain).</p>"
    )


def _worst_list(timeline: Sequence[dict[str, Any]]) -> str:
    items = []
    for index in worst_windows(timeline):
        w = timeline[index]
        scores = ", ".join(f"{t} {v:.2f}" for t, v in w["scores"].items() if v is not None)
        items.append(f"<li>{w['start_s']:.1f}-{w['end_s']:.1f} s: {scores}</li>")
    return f"<p>Worst windows:</p><ul>{''.join(items)}</ul>" if items else ""


def _diagnostics_table(result: VideoScore) -> str:
    rows = ["<table>"]
    for name, text in diagnostic_rows(result.diagnostics):
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{html.escape(text)}</td></tr>")
    return "".join(rows) + "</table>"


def _figure(png: bytes, alt: str) -> str:
    return f"<img class='figure' src='data:image/png;base64,{_b64(png)}' alt='{alt}'>"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _thumbnails(
    video: str | Path, features: VideoFeatures, timeline: Sequence[dict[str, Any]]
) -> list[tuple[str, bytes]]:
    """(caption, PNG) face crops from the middle of the best and the worst windows."""
    best = best_window(timeline)
    picks = [("best", best)] if best is not None else []
    picks += [("worst", i) for i in worst_windows(timeline) if i != best]
    fps = features.diagnostics["fps"]
    wanted = {}
    for label, index in picks:
        w = timeline[index]
        frame = min(round((w["start_s"] + w["end_s"]) / 2 * fps), features.num_frames - 1)
        wanted[frame] = f"{label} window {w['start_s']:.1f}-{w['end_s']:.1f} s"
    if not wanted:
        return []
    max_side = features.settings.get("max_side", 640)
    boxes = features.extras.get("face_box")
    thumbs = []
    for frame in iter_frames(video, fps, max_side, max_seconds=max(wanted) / fps + 1.0 / fps):
        if frame.index in wanted:
            box = None if boxes is None else boxes[frame.index]
            thumbs.append((wanted[frame.index], _crop_png(frame.image, box)))
    return thumbs


def _crop_png(image: np.ndarray, box: np.ndarray | None) -> bytes:
    """The face (with a margin) or the whole frame, scaled to THUMBNAIL_SIDE, as PNG."""
    if box is not None and box[0] >= 0:
        x0, y0, x1, y1 = box
        margin = 0.25 * max(x1 - x0, y1 - y0)
        height, width = image.shape[:2]
        x0, y0 = int(max(0, x0 - margin)), int(max(0, y0 - margin))
        x1, y1 = int(min(width, x1 + margin)), int(min(height, y1 + margin))
        image = image[y0:y1, x0:x1]
    scale = THUMBNAIL_SIDE / max(image.shape[:2])
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return encoded.tobytes()


_SORT_SCRIPT = """
document.querySelectorAll('th').forEach((th, column) => th.onclick = () => {
  const body = th.closest('table').tBodies[0];
  const rows = Array.from(body.rows);
  const ascending = th.dataset.order !== 'asc';
  th.dataset.order = ascending ? 'asc' : 'desc';
  const key = r => { const t = r.cells[column].dataset.value ?? r.cells[column].textContent;
                     const n = parseFloat(t); return isNaN(n) ? t : n; };
  rows.sort((a, b) => { const x = key(a), y = key(b);
    return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1); });
  rows.forEach(r => body.appendChild(r));
});
"""


def write_index(rows: Sequence[dict[str, Any]], tasks: Sequence[str], folder: str | Path) -> Path:
    """`index.html` in `folder`: one row per video (linked to its report when there is one),
    its scores and status; a click on a column header sorts by it."""
    folder = Path(folder)
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in ("video", *tasks, "status", "error"))
    lines = []
    for row in rows:
        name = report_name(row["video"])
        link = f"<a href='{e(name)}'>{e(row['video'])}</a>" if (folder / name).is_file() else None
        cells = [f"<td>{link or e(row['video'])}</td>"]
        for task in tasks:
            value = row.get(task)
            cells.append(f"<td data-value='{'' if value is None else value}'>"
                         f"{'-' if value is None else f'{float(value):.2f}'}</td>")  # fmt: skip
        cells += [
            f"<td>{e(str(row.get('status', '')))}</td>",
            f"<td>{e(row.get('error') or '')}</td>",
        ]
        lines.append(f"<tr>{''.join(cells)}</tr>")
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>talkscore reports</title>"
        f"<style>{_STYLE}</style></head><body><h1>talkscore reports ({len(rows)} videos)</h1>"
        f"<p>Click a column to sort.</p><table><thead><tr>{head}</tr></thead><tbody>"
        f"{''.join(lines)}</tbody></table><script>{_SORT_SCRIPT}</script></body></html>"
    )
    out = folder / "index.html"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
    return out

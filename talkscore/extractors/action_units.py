"""AU modality: the 17 OpenFace action units, derived from MediaPipe's 52 blendshapes.

Each AU intensity is 5 x (the blendshape score below), matching OpenFace's 0-5 scale;
"mean(L, R)" averages the left and right blendshapes.

| AU | name | blendshapes |
|---|---|---|
| AU01 | inner brow raiser | browInnerUp |
| AU02 | outer brow raiser | mean(browOuterUpLeft, browOuterUpRight) |
| AU04 | brow lowerer | mean(browDownLeft, browDownRight) |
| AU05 | upper lid raiser | mean(eyeWideLeft, eyeWideRight) |
| AU06 | cheek raiser | mean(cheekSquintLeft, cheekSquintRight) |
| AU07 | lid tightener | mean(eyeSquintLeft, eyeSquintRight) |
| AU09 | nose wrinkler | mean(noseSneerLeft, noseSneerRight) |
| AU10 | upper lip raiser | mean(mouthUpperUpLeft, mouthUpperUpRight) |
| AU12 | lip corner puller | mean(mouthSmileLeft, mouthSmileRight) |
| AU14 | dimpler | mean(mouthDimpleLeft, mouthDimpleRight) |
| AU15 | lip corner depressor | mean(mouthFrownLeft, mouthFrownRight) |
| AU17 | chin raiser | mouthShrugLower |
| AU20 | lip stretcher | mean(mouthStretchLeft, mouthStretchRight) |
| AU23 | lip tightener | mean(mouthPressLeft, mouthPressRight) |
| AU25 | lips part | max(mean(mouthLowerDownLeft, mouthLowerDownRight), jawOpen - mouthClose) |
| AU26 | jaw drop | jawOpen |
| AU45 | blink | mean(eyeBlinkLeft, eyeBlinkRight) |

The AU stream adds one column after them, `mouth_articulation`: how much the mouth AUs move
around each frame (the sum of their standard deviations over a centred ARTICULATION_SECONDS
window). Vague, mumbled mouth shapes move less than clear articulation of the same speech.
"""

from __future__ import annotations

import numpy as np

AU_NAMES = (
    "AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12",
    "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45",
)  # fmt: skip

#: AU -> blendshape base names averaged over Left/Right ("*" = both sides), as in the table.
_BILATERAL = {
    "AU02": "browOuterUp*",
    "AU04": "browDown*",
    "AU05": "eyeWide*",
    "AU06": "cheekSquint*",
    "AU07": "eyeSquint*",
    "AU09": "noseSneer*",
    "AU10": "mouthUpperUp*",
    "AU12": "mouthSmile*",
    "AU14": "mouthDimple*",
    "AU15": "mouthFrown*",
    "AU20": "mouthStretch*",
    "AU23": "mouthPress*",
    "AU45": "eyeBlink*",
}
#: the AUs of the lips and jaw that speech moves (not the smile and frown of AU12/AU15)
MOUTH_AUS = ("AU10", "AU14", "AU17", "AU20", "AU23", "AU25", "AU26")
#: window of `mouth_articulation`: about one syllable
ARTICULATION_SECONDS = 0.3
#: the AU stream's columns
AU_FEATURE_NAMES = (*AU_NAMES, "mouth_articulation")
_SINGLE = {"AU01": "browInnerUp", "AU17": "mouthShrugLower", "AU26": "jawOpen"}
OPENFACE_SCALE = 5.0


def action_units(blendshapes: np.ndarray, names: list[str]) -> np.ndarray:
    """`[T, 17]` AU intensities in [0, 5] (NaN rows stay NaN) from `[T, 52]` blendshapes."""
    index = {name: i for i, name in enumerate(names)}

    def score(name: str) -> np.ndarray:
        if name.endswith("*"):
            base = name[:-1]
            return (
                blendshapes[:, index[base + "Left"]] + blendshapes[:, index[base + "Right"]]
            ) / 2
        return blendshapes[:, index[name]]

    columns = {au: score(name) for au, name in {**_BILATERAL, **_SINGLE}.items()}
    lips_apart = np.clip(score("jawOpen") - score("mouthClose"), 0.0, 1.0)
    columns["AU25"] = np.maximum(score("mouthLowerDown*"), lips_apart)
    return (OPENFACE_SCALE * np.stack([columns[au] for au in AU_NAMES], axis=1)).astype(np.float32)


def mouth_articulation(aus: np.ndarray, fps: float) -> np.ndarray:
    """`[T]` sum over MOUTH_AUS of their standard deviation within the centred window of
    ARTICULATION_SECONDS around each frame (at least 3 frames) of `[T, 17]` AUs; frames without
    a face are skipped in the window, and a frame is NaN where fewer than 2 of its window have
    one."""
    length = len(aus)
    width = max(3, round(ARTICULATION_SECONDS * fps))
    mouth = aus[:, [AU_NAMES.index(au) for au in MOUTH_AUS]].astype(np.float64)
    padded = np.pad(mouth, ((width // 2, width - 1 - width // 2), (0, 0)), constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=0)[:length]
    valid = np.isfinite(windows[:, 0]).sum(axis=-1)
    out = np.full(length, np.nan, np.float32)
    enough = valid >= 2
    out[enough] = np.nanstd(windows[enough], axis=-1).sum(axis=-1)
    return out


def au_stream(blendshapes: np.ndarray, names: list[str], fps: float) -> np.ndarray:
    """`[T, 18]` the AU stream: the 17 AUs then `mouth_articulation` (AU_FEATURE_NAMES)."""
    aus = action_units(blendshapes, names)
    return np.concatenate([aus, mouth_articulation(aus, fps)[:, None]], axis=1)

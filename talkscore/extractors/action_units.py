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

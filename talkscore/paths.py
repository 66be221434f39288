"""Where talkscore keeps downloaded files, and how it finds the face landmark model."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

#: File name of the MediaPipe face landmarker bundle.
FACE_MODEL_FILENAME = "face_landmarker.task"
#: Expected sha256 of the face landmarker bundle.
FACE_MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
#: Google's published face landmarker bundle (MediaPipe model card: FaceLandmarker, float16 v1).
FACE_MODEL_URL = (
    "https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/float16/1/"
    "face_landmarker.task"
)
#: Environment variable that points at the face landmarker bundle.
FACE_MODEL_ENV = "TALKSCORE_FACE_MODEL"

_CHUNK = 1 << 20


def cache_dir() -> Path:
    """Return the cache folder: $TALKSCORE_CACHE, else $XDG_CACHE_HOME/talkscore, else ~/.cache.

    The folder is not created.
    """
    explicit = os.environ.get("TALKSCORE_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "talkscore"


def find_face_model(explicit: str | Path | None = None) -> tuple[Path, str] | None:
    """Return (path, source) of the first existing face model: option, environment, cache.

    Source is "option", "environment" or "cache"; None when no candidate is a file.
    """
    env = os.environ.get(FACE_MODEL_ENV)
    candidates = [
        (explicit, "option"),
        (env or None, "environment"),
        (cache_dir() / FACE_MODEL_FILENAME, "cache"),
    ]
    for candidate, source in candidates:
        if candidate is None:
            continue
        path = Path(candidate).expanduser()
        if path.is_file():
            return path, source
    return None


def sha256_file(path: str | Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_face_model(
    url: str = FACE_MODEL_URL, folder: str | Path | None = None, timeout: float = 30.0
) -> Path:
    """Download the face landmarker into the cache folder, hashing while streaming.

    The file only appears (atomically) once its sha256 matches; raises OSError when the
    download fails and ValueError on a checksum mismatch.
    """
    folder = Path(folder) if folder is not None else cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{FACE_MODEL_FILENAME}.", suffix=".part")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != FACE_MODEL_SHA256:
            raise ValueError(f"{url} has sha256 {digest.hexdigest()}, expected {FACE_MODEL_SHA256}")
        target = folder / FACE_MODEL_FILENAME
        os.replace(tmp, target)
        return target
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

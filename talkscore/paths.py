"""Where talkscore keeps downloaded files, and how it finds the model files it does not ship."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from talkscore.errors import BackendUnavailable


@dataclass(frozen=True)
class ModelFile:
    """A published model file talkscore finds or downloads: its name in the user cache, its
    sha256, the public URL it comes from and the environment variable that points at a copy."""

    filename: str
    sha256: str
    url: str
    env: str


#: Google's published face landmarker bundle (MediaPipe model card: FaceLandmarker, float16 v1).
FACE_MODEL = ModelFile(
    "face_landmarker.task",
    "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
    "https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/float16/1/"
    "face_landmarker.task",
    "TALKSCORE_FACE_MODEL",
)
#: LR-ASD's weights pretrained on AVA-ActiveSpeaker, as its authors publish them (MIT licence).
LR_ASD_MODEL = ModelFile(
    "lr_asd_ava.model",
    "85e6c77fc981595234790d1e128ebb60352d37726b2445e0ef8891e2512fe9e3",
    "https://github.com/Junhua-Liao/LR-ASD/raw/1b6dcd2d8fc2895683de6508ec6294ec47d388ca/"
    "weight/pretrain_AVA.model",
    "TALKSCORE_LR_ASD_MODEL",
)
#: Light-ASD's weights fine-tuned on TalkSet, as its authors publish them (MIT licence).
LIGHT_ASD_MODEL = ModelFile(
    "light_asd_talkset.model",
    "efc375833887eefa9d209dc92810e18519b04c3c73ea35a549f2a7f40b7d94d5",
    "https://github.com/Junhua-Liao/Light-ASD/raw/ed38c232de5efe0261dbd68627c0ade7cdfe14eb/"
    "weight/finetuning_TalkSet.model",
    "TALKSCORE_LIGHT_ASD_MODEL",
)
#: The model files by the names `talkscore models fetch` takes.
MODEL_FILES = {"face": FACE_MODEL, "lr-asd": LR_ASD_MODEL, "light-asd": LIGHT_ASD_MODEL}

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


def find_model(model: ModelFile, explicit: str | Path | None = None) -> tuple[Path, str] | None:
    """Return (path, source) of the first existing copy of `model`: option, environment, cache.

    Source is "option", "environment" or "cache"; None when no candidate is a file.
    """
    env = os.environ.get(model.env)
    candidates = [
        (explicit, "option"),
        (env or None, "environment"),
        (cache_dir() / model.filename, "cache"),
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


def fetch_model(
    model: ModelFile,
    folder: str | Path | None = None,
    timeout: float = 30.0,
    url: str | None = None,
) -> Path:
    """Download `model` (from `url`, default its public one) into the cache folder, hashing
    while streaming.

    The file only appears (atomically) once its sha256 matches; raises OSError when the
    download fails and ValueError on a checksum mismatch.
    """
    url = url or model.url
    folder = Path(folder) if folder is not None else cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{model.filename}.", suffix=".part")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != model.sha256:
            raise ValueError(f"{url} has sha256 {digest.hexdigest()}, expected {model.sha256}")
        target = folder / model.filename
        os.replace(tmp, target)
        return target
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def resolve_model(
    model: ModelFile,
    explicit: str | Path | None = None,
    how: str = "",
    verify: bool = True,
    download: bool = True,
) -> Path:
    """A checked copy of `model`: the option, else its environment variable, else the cache;
    when none has it, downloaded into the cache (if `download`). BackendUnavailable, with
    `how` (what the user can do; by default: the option, the variable or the cache), when it
    cannot be had or its sha256 does not match."""
    how = how or f"pass its path, set {model.env}, or put {model.filename} in {cache_dir()}"
    if explicit is not None and not Path(explicit).expanduser().is_file():
        raise BackendUnavailable(f"{explicit} does not exist; {how}")
    found = find_model(model, explicit)
    if found is None and not download:
        raise BackendUnavailable(f"{model.filename} not found: {how}")
    if found is None:
        try:
            return fetch_model(model)
        except (OSError, ValueError) as exc:
            reason = " ".join(str(exc).split())
            message = f"{model.filename} not found and not downloadable ({reason}); {how}"
            raise BackendUnavailable(message) from None
    path = found[0]
    if verify and sha256_file(path) != model.sha256:
        raise BackendUnavailable(
            f"{path} is not the expected {model.filename} (sha256 mismatch); {how}"
        )
    return path

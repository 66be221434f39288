"""Loading Hugging Face `transformers` models for the optional backends (CLIP, wav2vec2).

A model is named by a local folder (written by `save_pretrained`) or a hub id ("name" or
"org/name"). Nothing here waits on an unreachable network: a hub id is first looked up in the
hub cache only, and a download is tried only when not in offline mode and the hub endpoint (or
the configured proxy) accepts a TCP connection within a few seconds. Loading draws no progress
bars, and every failure is a `BackendUnavailable` with one line that names the option to pass.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from talkscore.errors import BackendUnavailable

logger = logging.getLogger(__name__)

#: seconds to wait for the hub's (or the proxy's) TCP handshake before giving up on a download
HUB_CONNECT_TIMEOUT = 3.0
_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_TRUE_FLAGS = {"1", "ON", "YES", "TRUE"}


def require_transformers(backend: str, name: str) -> Any:
    """`transformers.<name>` (a model class); BackendUnavailable naming `backend` when missing."""
    try:
        return getattr(importlib.import_module("transformers"), name)
    except (ImportError, AttributeError) as error:
        raise BackendUnavailable(
            f"the {backend} backend needs transformers: pip install talkscore[hub]"
        ) from error


def load_pretrained(model_class: Any, model: str, *, what: str, option: str) -> Any:
    """`model_class.from_pretrained` from a local folder, the hub cache, or (online) the hub.

    `what` names the model family in messages ("CLIP", "wav2vec2"). Raises BackendUnavailable
    with one line naming `option` (e.g. "--visual-model") when the weights are not available;
    draws no progress bars and prints no load report (a full CLIP checkpoint's text tower is
    expected to be left out).
    """
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()  # library code draws nothing on the terminal
    hf_logging.set_verbosity_error()
    try:
        return _load(model_class, model, what, option)
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _load(model_class: Any, model: str, what: str, option: str) -> Any:
    hint = f"pass {option} /path/to/folder (a {what} model saved with save_pretrained)"
    folder = Path(model).expanduser()
    if folder.is_dir():
        source = f"the model folder {str(folder)!r}"
        return _from_pretrained(model_class, str(folder), what, source, hint)
    if _looks_like_path(model):
        raise BackendUnavailable(f"{what} model folder {model!r} does not exist; {hint}")
    try:
        return model_class.from_pretrained(model, local_files_only=True)
    except OSError:
        logger.debug("%s model %s is not in the Hugging Face cache", what, model)
    if _offline() or not _hub_reachable():
        raise BackendUnavailable(
            f"{what} weights for {model!r} are not available offline (not in the Hugging Face "
            f"cache, and the hub cannot be reached); download them once or {hint}"
        )
    logger.info("downloading %s model %s from the Hugging Face hub", what, model)
    return _from_pretrained(model_class, model, what, f"the hub model {model!r}", hint)


def _from_pretrained(model_class: Any, source: str, what: str, described: str, hint: str) -> Any:
    try:
        return model_class.from_pretrained(source)
    except (OSError, ValueError) as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        reason = lines[0] if lines else type(error).__name__
        raise BackendUnavailable(
            f"cannot load {what} weights from {described}: {reason}; {hint}"
        ) from error


def _looks_like_path(model: str) -> bool:
    """Whether `model` names a filesystem path rather than a hub id ("name" or "org/name")."""
    path = Path(model).expanduser()
    return (
        path.is_absolute()
        or path.exists()
        or model.startswith((".", "~"))
        or "\\" in model
        or model.count("/") > 1
    )


def _offline() -> bool:
    """Whether offline mode is on (huggingface_hub's setting, or the variables as they are now)."""
    from huggingface_hub import constants

    flags = (os.environ.get(name, "") for name in _OFFLINE_VARIABLES)
    return bool(constants.HF_HUB_OFFLINE) or any(
        flag.strip().upper() in _TRUE_FLAGS for flag in flags
    )


def _hub_address() -> tuple[str, int] | None:
    """(host, port) a download connects to first: the HTTPS proxy for the hub, else the hub."""
    from huggingface_hub import constants

    hub = urlparse(constants.ENDPOINT)
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(hub.scheme) or proxies.get("all")
    target = hub
    if proxy and hub.hostname and not urllib.request.proxy_bypass_environment(hub.hostname):
        target = urlparse(proxy if "://" in proxy else f"http://{proxy}")
    if not target.hostname:
        return None
    return target.hostname, target.port or (443 if target.scheme == "https" else 80)


def _hub_reachable(timeout: float = HUB_CONNECT_TIMEOUT) -> bool:
    """Whether the hub endpoint (or its proxy) accepts a TCP connection within `timeout` s.

    The probe runs on a daemon thread, so a slow name lookup cannot stretch the wait either.
    """
    address = _hub_address()
    if address is None:
        return False
    done, reached = threading.Event(), []

    def probe() -> None:
        try:
            socket.create_connection(address, timeout=timeout).close()
            reached.append(True)
        except OSError:
            pass
        finally:
            done.set()

    threading.Thread(target=probe, name="talkscore-hub-probe", daemon=True).start()
    done.wait(timeout)
    return bool(reached)

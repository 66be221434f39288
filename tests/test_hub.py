"""Shared Hugging Face loading for the optional backends (talkscore.extractors.hub)."""

from __future__ import annotations

import socket
import sys
import time

import pytest

from talkscore.errors import BackendUnavailable
from talkscore.extractors import hub

PROXY_VARIABLES = [
    f"{name}_proxy" if lower else f"{name.upper()}_PROXY"
    for name in ("http", "https", "all", "no")
    for lower in (True, False)
]


@pytest.fixture
def no_proxy_env(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def local_hub(monkeypatch, no_proxy_env):
    """A listening socket on localhost standing in for the hub endpoint; yields its port."""
    from huggingface_hub import constants

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")
        yield port


class FakeModel:
    """Records `from_pretrained` calls; `cached` and `fail` steer what they do."""

    calls: list[tuple[str, dict]] = []
    cached = False
    fail: Exception | None = None
    bars_during_load: list[bool] = []

    @classmethod
    def from_pretrained(cls, source, **kwargs):
        from transformers.utils import logging as hf_logging

        cls.calls.append((source, kwargs))
        cls.bars_during_load.append(hf_logging.is_progress_bar_enabled())
        if kwargs.get("local_files_only") and not cls.cached:
            raise OSError(f"{source} is not in the cache")
        if cls.fail is not None:
            raise cls.fail
        return cls()


@pytest.fixture
def fake_model(monkeypatch):
    pytest.importorskip("transformers")
    monkeypatch.setattr(FakeModel, "calls", [])
    monkeypatch.setattr(FakeModel, "bars_during_load", [])
    monkeypatch.setattr(FakeModel, "cached", False)
    monkeypatch.setattr(FakeModel, "fail", None)
    return FakeModel


def load(model: str):
    return hub.load_pretrained(FakeModel, model, what="Fake", option="--fake-model")


# ---- path vs hub id, offline flags ------------------------------------------------------------


@pytest.mark.parametrize(
    "model, is_path",
    [
        ("facebook/wav2vec2-base", False),
        ("bert-base-uncased", False),
        ("/abs/model", True),
        ("./model", True),
        ("../model", True),
        ("~/models/clip", True),
        ("a/b/c", True),
        ("C:\\models\\clip", True),
    ],
)
def test_looks_like_path(model, is_path):
    assert hub._looks_like_path(model) is is_path


def test_existing_file_looks_like_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights").write_text("")
    assert hub._looks_like_path("weights")


@pytest.mark.parametrize("variable", ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"])
@pytest.mark.parametrize(
    "value, offline", [("1", True), (" yes ", True), ("ON", True), ("0", False)]
)
def test_offline_flags(monkeypatch, variable, value, offline):
    pytest.importorskip("huggingface_hub")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    assert not hub._offline()
    monkeypatch.setenv(variable, value)
    assert hub._offline() is offline
    monkeypatch.delenv(variable)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert hub._offline()


# ---- hub reachability ------------------------------------------------------------------------


def test_hub_reachable_when_endpoint_listens(local_hub):
    assert hub._hub_address() == ("127.0.0.1", local_hub)
    assert hub._hub_reachable()


def test_hub_unreachable_fails_fast(monkeypatch, no_proxy_env):
    from huggingface_hub import constants

    with socket.socket() as server:  # a port nothing listens on once this closes
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    start = time.perf_counter()
    assert not hub._hub_reachable(timeout=1.0)
    assert time.perf_counter() - start < 2


def test_hub_probe_goes_to_the_proxy(monkeypatch, local_hub):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "https://huggingface.example")
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{local_hub}")
    assert hub._hub_address() == ("127.0.0.1", local_hub)
    assert hub._hub_reachable()
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.setenv("ALL_PROXY", f"127.0.0.1:{local_hub}")
    assert hub._hub_address() == ("127.0.0.1", local_hub)
    monkeypatch.setenv("NO_PROXY", "huggingface.example")
    assert hub._hub_address() == ("huggingface.example", 443)


# ---- load_pretrained -------------------------------------------------------------------------


def test_folder_is_loaded_directly(fake_model, tmp_path):
    assert isinstance(load(str(tmp_path)), FakeModel)
    assert fake_model.calls == [(str(tmp_path), {})]


def test_missing_folder_names_the_option(fake_model, tmp_path):
    with pytest.raises(BackendUnavailable, match="does not exist.*--fake-model") as caught:
        load(str(tmp_path / "missing"))
    assert "\n" not in str(caught.value) and fake_model.calls == []


def test_cached_hub_id_needs_no_network(fake_model, monkeypatch):
    monkeypatch.setattr(hub, "_hub_reachable", lambda: pytest.fail("probed the hub"))
    fake_model.cached = True
    load("org/cached-model")
    assert fake_model.calls == [("org/cached-model", {"local_files_only": True})]


@pytest.mark.parametrize("offline, reachable", [(True, True), (False, False)])
def test_uncached_hub_id_without_hub(fake_model, monkeypatch, offline, reachable):
    monkeypatch.setattr(hub, "_offline", lambda: offline)
    monkeypatch.setattr(hub, "_hub_reachable", lambda: reachable)
    with pytest.raises(BackendUnavailable, match="not available offline.*--fake-model"):
        load("org/model")
    assert len(fake_model.calls) == 1  # the cache lookup only, no download


def test_download_failure_is_one_line(fake_model, monkeypatch):
    monkeypatch.setattr(hub, "_offline", lambda: False)
    monkeypatch.setattr(hub, "_hub_reachable", lambda: True)
    fake_model.fail = ValueError("\n  bad config  \nsecond line")
    with pytest.raises(BackendUnavailable) as caught:
        load("org/model")
    message = str(caught.value)
    expected = "cannot load Fake weights from the hub model 'org/model': bad config;"
    assert message.startswith(expected)
    assert "--fake-model" in message and "\n" not in message
    assert fake_model.calls[-1] == ("org/model", {})


@pytest.mark.parametrize("enabled", [True, False])
def test_no_progress_bars_while_loading(fake_model, tmp_path, enabled):
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    try:
        (hf_logging.enable_progress_bar if enabled else hf_logging.disable_progress_bar)()
        load(str(tmp_path))
        assert fake_model.bars_during_load == [False]
        assert hf_logging.is_progress_bar_enabled() is enabled
        fake_model.fail = OSError("broken")
        with pytest.raises(BackendUnavailable):
            load(str(tmp_path))
        assert hf_logging.is_progress_bar_enabled() is enabled
    finally:
        (hf_logging.enable_progress_bar if was else hf_logging.disable_progress_bar)()


# ---- require_transformers --------------------------------------------------------------------


def test_require_transformers(monkeypatch):
    transformers = pytest.importorskip("transformers")
    assert hub.require_transformers("test", "AutoModel") is transformers.AutoModel
    with pytest.raises(BackendUnavailable, match=r"the test backend .*talkscore\[hub\]"):
        hub.require_transformers("test", "NoSuchModelClass")
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(BackendUnavailable, match=r"pip install talkscore\[hub\]"):
        hub.require_transformers("test", "AutoModel")

"""LR-ASD and Light-ASD: the networks written to their authors' state dicts, and their audio
features and face crops."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from talkscore.sync.light_asd import LightASD
from talkscore.sync.lr_asd import (
    CROP_SIZE,
    LRASD,
    face_crop,
    smooth_boxes,
    speaking_logits,
    speech_mfcc,
)

MODELS = Path(os.environ.get("TALKSCORE_SHARED", Path(__file__).resolve().parents[2] / "shared"))
MODELS = MODELS / "models"
NETWORKS = [  # network, its published weights, its parameter count
    (LRASD, MODELS / "lr_asd_ava.model", 837_156),
    (LightASD, MODELS / "light_asd_talkset.model", 1_021_636),
]


def test_mfcc_match_the_authors_feature_library():
    psf = pytest.importorskip("python_speech_features")
    audio = np.random.default_rng(0).normal(0, 0.1, 16000 * 2).astype(np.float32)
    ours = speech_mfcc(audio)
    theirs = psf.mfcc(
        audio.astype(np.float64) * 32768, 16000, numcep=13, winlen=0.025, winstep=0.01
    )
    assert ours.shape == theirs.shape == (199, 13)
    np.testing.assert_allclose(ours, theirs, atol=1e-3)


def test_face_crop_and_box_smoothing():
    image = np.zeros((200, 300, 3), np.uint8)
    image[80:120, 130:170] = 255  # a bright square where the face box is
    crop = face_crop(image, np.array([110, 60, 190, 140]))
    assert crop.shape == (CROP_SIZE, CROP_SIZE) and crop.dtype == np.uint8
    assert crop.max() == 255 and crop.min() == 0
    outside = face_crop(image, np.array([250, 150, 350, 250]))  # off the corner: grey beyond
    assert (outside == 110).mean() > 0.7
    boxes = np.tile([10.0, 10.0, 50.0, 50.0], (30, 1))
    boxes[15] = [200, 200, 260, 260]  # one wild detection
    assert np.array_equal(smooth_boxes(boxes), np.tile([10.0, 10.0, 50.0, 50.0], (30, 1)))


@pytest.mark.parametrize(("network", "weights", "parameters"), NETWORKS)
def test_the_published_weights_load_into_the_network_and_both_inputs_count(
    network, weights, parameters
):
    if not weights.is_file():
        pytest.skip(f"no {network.__name__} weights at {weights}")
    model = network.load(weights)  # strict: every key and shape of the authors' state dict
    assert sum(p.numel() for p in model.parameters()) == parameters
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (20, CROP_SIZE, CROP_SIZE)).astype(np.uint8)
    mfcc = rng.normal(0, 5, (80, 13)).astype(np.float32)
    logits = speaking_logits(model, faces, mfcc, lags=(0, 3))
    assert logits.shape == (2, 20) and np.isfinite(logits).all()
    assert not np.allclose(logits[0], logits[1])  # the audio moved: other logits
    still = speaking_logits(model, np.repeat(faces[:1], 20, axis=0), mfcc)
    assert not np.allclose(still[0], logits[0])  # other faces: other logits
    again = speaking_logits(model, faces, mfcc, lags=(0,))
    np.testing.assert_array_equal(again[0], logits[0])
    with pytest.raises(RuntimeError):
        torch.nn.Module.load_state_dict(model, {"model.visualEncoder.x": torch.zeros(3)})


@pytest.mark.parametrize(("network", "weights", "parameters"), NETWORKS)
def test_without_a_path_the_weights_are_found_like_the_face_bundle(
    network, weights, parameters, tmp_path, monkeypatch
):
    import talkscore.paths
    from talkscore.errors import BackendUnavailable

    if not weights.is_file():
        pytest.skip(f"no {network.__name__} weights at {weights}")
    cache = tmp_path / "cache"
    monkeypatch.setenv("TALKSCORE_CACHE", str(cache))
    monkeypatch.delenv(network.WEIGHTS.env, raising=False)

    def offline(*args, **kwargs):
        raise OSError("Name or service not known")

    fetch_model = talkscore.paths.fetch_model
    monkeypatch.setattr(talkscore.paths, "fetch_model", offline)
    with pytest.raises(BackendUnavailable, match="not downloadable") as missing:
        network.load()
    assert network.WEIGHTS.env in str(missing.value) and "\n" not in str(missing.value)
    monkeypatch.setenv(network.WEIGHTS.env, str(weights))  # the environment variable
    assert sum(p.numel() for p in network.load().parameters()) == parameters
    monkeypatch.delenv(network.WEIGHTS.env)
    # the real download, from a local copy's URL: checked by sha256
    fetched = fetch_model(network.WEIGHTS, url=weights.as_uri())
    assert fetched == cache / network.WEIGHTS.filename
    assert sum(p.numel() for p in network.load().parameters()) == parameters  # from the cache
    fetched.write_bytes(b"not the published weights")
    with pytest.raises(BackendUnavailable, match="sha256 mismatch"):
        network.load()
    with pytest.raises(ValueError, match=f"expected {network.WEIGHTS.sha256[:8]}"):
        fetch_model(network.WEIGHTS, folder=tmp_path, url=fetched.as_uri())

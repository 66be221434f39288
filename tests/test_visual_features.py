"""Visual backends: quality features, face crops and the CLIP embedding backend."""

from __future__ import annotations

import json
import shutil
import time

import cv2
import numpy as np
import pytest

from talkscore.errors import BackendUnavailable
from talkscore.extractors.crops import face_crop, square_box
from talkscore.extractors.quality import REGION_FEATURES, QualityBackend, QualitySettings

#: a face-sized box in the middle of a 512x512 talking-head frame
BOX = (140, 90, 380, 440)
REGIONS = ("face", "frame")


@pytest.fixture(scope="module")
def real_frames(clips_dir) -> list[np.ndarray]:
    """The first 12 frames of a 512x512 real clip, RGB uint8."""
    av = pytest.importorskip("av")
    for path in sorted((clips_dir / "real").glob("*.mp4")):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if (stream.width, stream.height) != (512, 512):
                continue
            frames = container.decode(video=0)
            return [next(frames).to_ndarray(format="rgb24") for _ in range(12)]
    pytest.skip(f"no 512x512 clip in {clips_dir / 'real'}")


@pytest.fixture
def frame(real_frames) -> np.ndarray:
    return real_frames[0]


def textured_frame(seed: int = 0, size: int = 512) -> np.ndarray:
    """A smooth colour gradient with some texture, RGB uint8."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 200, size, dtype=np.float32)
    base = np.stack([ramp[None, :].repeat(size, 0), ramp[:, None].repeat(size, 1)], axis=-1)
    base = np.concatenate([base, np.full((size, size, 1), 90, np.float32)], axis=-1)
    texture = cv2.GaussianBlur(rng.normal(0, 25, (size, size, 3)).astype(np.float32), (0, 0), 1.5)
    return np.clip(base + texture, 0, 255).astype(np.uint8)


def quality_rows(frames, box=BOX) -> list[dict[str, float]]:
    """Quality features of a sequence as one {name: value} dict per frame."""
    backend = QualityBackend()
    for image in frames:
        backend.add(image, box)
    return [dict(zip(backend.feature_names(), row, strict=True)) for row in backend.finish()]


def quality(image, box=BOX) -> dict[str, float]:
    return quality_rows([image], box)[0]


def assert_lower(low: dict, high: dict, feature: str) -> None:
    for region in REGIONS:
        name = f"{region}_{feature}"
        assert low[name] < high[name], f"{name}: {low[name]} !< {high[name]}"


# ---- quality backend -------------------------------------------------------------------------


def test_quality_shapes_names_and_missing_face():
    backend = QualityBackend()
    frames = [textured_frame(seed) for seed in range(4)]
    for index, image in enumerate(frames):
        backend.add(image, None if index == 2 else BOX)
    features = backend.finish()
    names = backend.feature_names()
    assert features.shape == (4, backend.dim) and features.dtype == np.float32
    assert len(names) == len(set(names)) == backend.dim == 4 * len(REGION_FEATURES)
    face = np.array([n.startswith("face_") for n in names])
    assert np.isfinite(features[[0, 1, 3]]).all()
    assert np.isnan(features[2, face]).all() and np.isfinite(features[2, ~face]).all()
    half = backend.dim // 2  # then each feature minus its median over the video
    assert all(n == f"{m}_rel" for n, m in zip(names[half:], names[:half], strict=True))
    median = np.nanmedian(features[:, :half], axis=0)
    assert np.allclose(features[:, half:], features[:, :half] - median, equal_nan=True)


def test_quality_reset_settings_and_validation():
    backend = QualityBackend(QualitySettings(crop_size=64, analysis_size=128))
    backend.add(textured_frame(), BOX)
    backend.reset()
    assert backend.finish().shape == (0, backend.dim)
    assert QualitySettings(**backend.settings_dict()) == backend.settings
    with pytest.raises(ValueError, match="crop_size"):
        QualitySettings(crop_size=4)
    with pytest.raises(ValueError, match="dark_level"):
        QualitySettings(dark_level=200, bright_level=100)
    with pytest.raises(ValueError, match="RGB uint8"):
        backend.add(np.zeros((32, 32), np.uint8), None)


def test_quality_finite_on_flat_and_tiny_inputs():
    flat = np.full((64, 96, 3), 128, np.uint8)
    row = quality(flat, box=(90, 60, 96, 64))
    assert all(np.isfinite(v) for v in row.values())
    assert row["frame_blockiness"] == pytest.approx(1.0)


def test_blur_lowers_sharpness(frame):
    blurred = quality(cv2.GaussianBlur(frame, (0, 0), 2.0))
    sharp = quality(frame)
    assert_lower(blurred, sharp, "lap_logvar")
    assert_lower(blurred, sharp, "tenengrad_log")


def test_gaussian_noise_raises_noise_estimate(frame):
    rng = np.random.default_rng(0)
    noisy = np.clip(frame + rng.normal(0, 10, frame.shape), 0, 255).astype(np.uint8)
    assert_lower(quality(frame), quality(noisy), "noise_sigma")
    luma_sigma = 10 * np.sqrt(0.299**2 + 0.587**2 + 0.114**2)  # independent noise per channel
    assert quality(noisy)["frame_noise_sigma"] == pytest.approx(luma_sigma, rel=0.2)


def test_jpeg_raises_blockiness(frame):
    _, encoded = cv2.imencode(".jpg", frame[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 10])
    jpeg = np.ascontiguousarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR)[:, :, ::-1])
    clean, blocky = quality(frame), quality(jpeg)
    assert_lower(clean, blocky, "blockiness")
    assert blocky["frame_blockiness"] > 1.5


def test_darker_frame_lowers_luminance(frame):
    darker = (frame * 0.5).astype(np.uint8)
    assert_lower(quality(darker), quality(frame), "luma_mean")


def test_grayscale_has_no_colourfulness(frame):
    gray = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    grey_row, colour_row = quality(gray), quality(frame)
    for region in REGIONS:
        assert grey_row[f"{region}_colourfulness"] == pytest.approx(0.0, abs=1e-6)
        assert colour_row[f"{region}_colourfulness"] > 0.05


def test_frozen_frames_and_motion(real_frames):
    frozen = quality_rows([real_frames[0]] * 3)
    moving = quality_rows(real_frames[:4])
    for region in REGIONS:
        for rows in (frozen, moving):
            assert rows[0][f"{region}_diff_energy"] == rows[0][f"{region}_frozen"] == 0.0
        for row in frozen[1:]:
            assert row[f"{region}_frozen"] == 1.0 and row[f"{region}_diff_energy"] == 0.0
        for row in moving[1:]:
            assert row[f"{region}_frozen"] == 0.0 and row[f"{region}_diff_energy"] > 0.0


def test_alternating_brightness_flickers(frame):
    brighter = np.clip(frame * 1.3, 0, 255).astype(np.uint8)
    flicker = quality_rows([frame, brighter] * 3)
    steady = quality_rows([frame] * 6)
    for region in REGIONS:
        assert flicker[0][f"{region}_luma_delta"] == 0.0
        assert flicker[1][f"{region}_luma_second_diff"] == 0.0
        assert all(row[f"{region}_luma_delta"] > 0.03 for row in flicker[1:])
        assert all(row[f"{region}_luma_second_diff"] > 0.06 for row in flicker[2:])
        assert all(row[f"{region}_luma_second_diff"] == 0.0 for row in steady)


def test_missing_face_restarts_face_history(real_frames):
    backend = QualityBackend()
    for image, box in zip(real_frames[:3], (BOX, None, BOX), strict=True):
        backend.add(image, box)
    rows = [dict(zip(backend.feature_names(), row, strict=True)) for row in backend.finish()]
    assert rows[2]["face_diff_energy"] == 0.0 and rows[2]["frame_diff_energy"] > 0.0


# ---- face crops ------------------------------------------------------------------------------


def coordinate_image(height: int = 120, width: int = 160) -> np.ndarray:
    """RGB uint8 image whose channels encode x, y and a constant."""
    ys, xs = np.mgrid[:height, :width]
    return np.stack([xs, ys, np.full_like(xs, 7)], axis=-1).astype(np.uint8)


def test_face_crop_size_and_margin():
    image = coordinate_image()
    assert face_crop(image, (30, 20, 90, 100), 48).shape == (48, 48, 3)
    assert square_box((40, 40, 80, 80), 0.25) == (30, 30, 90, 90)
    np.testing.assert_array_equal(
        face_crop(image, (40, 40, 80, 80), 40, margin=0.0), image[40:80, 40:80]
    )
    np.testing.assert_array_equal(face_crop(image, (40, 40, 80, 80), 60), image[30:90, 30:90])
    # a non-square box gets a square around its centre, sized by the longer side
    assert square_box((40, 30, 60, 70), 0.0) == (30, 30, 70, 70)


def test_face_crop_clamps_with_border_padding():
    image = coordinate_image()
    crop = face_crop(image, (0, 0, 40, 40), 60)  # square (-10, -10, 50, 50)
    np.testing.assert_array_equal(crop[10:, 10:], image[:50, :50])
    np.testing.assert_array_equal(crop[:10, 10:], np.broadcast_to(image[0, :50], (10, 50, 3)))
    np.testing.assert_array_equal(crop[10:, :10], np.repeat(image[:50, :1], 10, axis=1))
    corner = face_crop(image, (140, 100, 160, 120), 30)  # square (135, 95, 165, 125)
    np.testing.assert_array_equal(corner[:25, :25], image[95:, 135:])
    assert (corner[25:, :, 1] == 119).all() and (corner[:, 25:, 0] == 159).all()


def test_face_crop_rejects_bad_boxes():
    image = coordinate_image()
    with pytest.raises(ValueError, match="outside"):
        face_crop(image, (200, 10, 240, 50), 32)
    with pytest.raises(ValueError, match="x0 < x1"):
        face_crop(image, (50, 10, 50, 50), 32)


# ---- CLIP backend ----------------------------------------------------------------------------

TINY_VISION = {
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "image_size": 32,
    "patch_size": 8,
    "projection_dim": 16,
}


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """Folder of a tiny randomly initialised `CLIPVisionModelWithProjection`."""
    transformers = pytest.importorskip("transformers")
    import torch

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_clip")
    config = transformers.CLIPVisionConfig(**TINY_VISION)
    transformers.CLIPVisionModelWithProjection(config).save_pretrained(folder)
    return folder


def clip_features(folder, frames, boxes, batch_size: int) -> np.ndarray:
    from talkscore.extractors.clip import ClipBackend

    backend = ClipBackend(model=str(folder), device="cpu", batch_size=batch_size)
    for image, box in zip(frames, boxes, strict=True):
        backend.add(image, box)
    return backend.finish()


def test_clip_embeddings_batches_and_missing_faces(tiny_clip):
    from talkscore.extractors.clip import ClipBackend

    frames = [textured_frame(seed, size=128) for seed in range(11)]
    boxes = [None if i in (3, 7) else (20 + i, 30, 90 + i, 100) for i in range(11)]
    features = clip_features(tiny_clip, frames, boxes, batch_size=4)  # 9 faces: 4 + 4 + 1
    assert features.shape == (11, 16) and features.dtype == np.float32
    missing = np.array([box is None for box in boxes])
    assert np.isnan(features[missing]).all()
    np.testing.assert_allclose(np.linalg.norm(features[~missing], axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(
        features[~missing], clip_features(tiny_clip, frames, boxes, 1)[~missing], atol=1e-5
    )
    assert len(set(map(tuple, features[~missing].round(4)))) == 9
    backend = ClipBackend(model=str(tiny_clip), device="cpu")
    assert backend.feature_names()[:2] == ["clip_000", "clip_001"] and backend.dim == 16
    assert backend.settings_dict()["image_size"] == 32
    assert backend.finish().shape == (0, 16)


def test_clip_reads_preprocessor_config(tiny_clip, tmp_path):
    folder = tmp_path / "with_preprocessor"
    shutil.copytree(tiny_clip, folder)
    config = {"image_mean": [0.5, 0.5, 0.5], "image_std": [0.1, 0.1, 0.1]}
    (folder / "preprocessor_config.json").write_text(json.dumps(config))
    frames, boxes = [textured_frame(size=128)], [(20, 20, 100, 100)]
    default = clip_features(tiny_clip, frames, boxes, batch_size=1)
    custom = clip_features(folder, frames, boxes, batch_size=1)
    assert not np.allclose(default, custom, atol=1e-3)


def test_clip_loads_vision_tower_of_full_clip_checkpoint(tmp_path):
    transformers = pytest.importorskip("transformers")
    from talkscore.extractors.clip import ClipBackend

    text = {**TINY_VISION, "vocab_size": 99}
    del text["image_size"], text["patch_size"]
    config = transformers.CLIPConfig(text_config=text, vision_config=TINY_VISION, projection_dim=16)
    transformers.CLIPModel(config).save_pretrained(tmp_path)
    assert ClipBackend(model=str(tmp_path), device="cpu").dim == 16


def test_clip_offline_without_cached_copy_fails_fast(monkeypatch):
    pytest.importorskip("transformers")
    from talkscore.extractors.clip import ClipBackend

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(BackendUnavailable, match="--visual-model"):
        ClipBackend(model="talkscore-tests/no-such-clip-model")
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize("make_folder", [False, True], ids=["missing", "empty"])
def test_clip_bad_folder_is_unavailable(tmp_path, make_folder):
    pytest.importorskip("transformers")
    from talkscore.extractors.clip import ClipBackend

    folder = tmp_path / "clip"
    if make_folder:
        folder.mkdir()
    with pytest.raises(BackendUnavailable, match="--visual-model"):
        ClipBackend(model=str(folder))


def test_clip_without_transformers(monkeypatch):
    import sys

    from talkscore.extractors.clip import ClipBackend

    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(BackendUnavailable, match=r"pip install talkscore\[hub\]"):
        ClipBackend(model="openai/clip-vit-base-patch32")

"""Audio extractors: spectral features, DNSMOS scores and the wav2vec2 backend."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soundfile
import soxr

from talkscore.errors import BackendUnavailable
from talkscore.extractors import dnsmos as dnsmos_module
from talkscore.extractors import mel
from talkscore.extractors.dnsmos import dnsmos, dnsmos_windows, window_frame_features
from talkscore.extractors.spectral import (
    SpectralBackend,
    SpectralSettings,
    audio_frame_mask,
    speech_envelope,
)

SR = 16000


def tone(freq: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def column(features: np.ndarray, backend: SpectralBackend, name: str) -> np.ndarray:
    return features[:, backend.feature_names().index(name)]


@pytest.fixture(scope="module")
def spectral() -> SpectralBackend:
    return SpectralBackend()


@pytest.fixture(scope="module")
def speech(clips_dir) -> np.ndarray:
    """9.3 s of real speech (48 kHz stereo on disk) as 16 kHz mono float32."""
    audio, rate = soundfile.read(clips_dir / "audio_only" / "sadtalker_deyu.wav", dtype="float32")
    return soxr.resample(audio.mean(axis=1), rate, SR).astype(np.float32)


def mp4_audio(path) -> np.ndarray:
    """The audio track of a video as 16 kHz mono float32, decoded with PyAV."""
    av = pytest.importorskip("av")
    resampler = av.AudioResampler(format="fltp", layout="mono", rate=SR)
    chunks = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            chunks += [f.to_ndarray()[0] for f in resampler.resample(frame)]
        chunks += [f.to_ndarray()[0] for f in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float32)


# --- spectral -------------------------------------------------------------------------------


@pytest.mark.parametrize("fps", [25.0, 30.0, 29.97])
@pytest.mark.parametrize("seconds", [0.3, 3.0])
def test_spectral_shape_and_names(spectral, fps, seconds):
    audio = np.random.default_rng(0).normal(0, 0.1, round(seconds * SR)).astype(np.float32)
    num_frames = int(seconds * fps)
    features = spectral.extract(audio, SR, num_frames, fps)
    assert features.shape == (num_frames, spectral.dim)
    assert features.dtype == np.float32
    assert np.isfinite(features).all()
    assert len(spectral.feature_names()) == spectral.dim == len(set(spectral.feature_names()))


@pytest.mark.parametrize("num_frames", [0, 1, 2])
def test_spectral_few_frames(spectral, num_frames):
    features = spectral.extract(tone(440, 0.1), SR, num_frames, 25)
    assert features.shape == (num_frames, spectral.dim)
    assert np.isfinite(features).all()


def test_spectral_dim_follows_settings():
    backend = SpectralBackend(SpectralSettings(n_mels=20, n_mfcc=8))
    assert backend.dim == 20 + 3 * 8 + 11
    assert backend.settings_dict()["n_mels"] == 20


@pytest.mark.parametrize(
    "field, value", [("n_mfcc", 50), ("fmin", 9000.0), ("rolloff", 1.5), ("pitch_fmin", 0.0)]
)
def test_spectral_settings_validate(field, value):
    with pytest.raises(ValueError, match=field.split("_")[0]):
        SpectralBackend(SpectralSettings(**{field: value}))


def test_tone_is_louder_than_silence(spectral):
    loud = spectral.extract(tone(1000, 2.0, 0.8), SR, 50, 25)
    quiet = spectral.extract(np.zeros(2 * SR, np.float32), SR, 50, 25)
    for name in ("rms_db", "speech_env_db"):
        assert column(loud, spectral, name).min() > column(quiet, spectral, name).max() + 60
    centroid = column(loud, spectral, "centroid_khz")[5:-5]
    assert np.allclose(centroid, 1.0, atol=0.05)
    assert np.allclose(column(loud, spectral, "rms_db")[5:-5], 20 * np.log10(0.8 / np.sqrt(2)), 0.5)


def test_pitch_of_a_200_hz_tone(spectral):
    features = spectral.extract(tone(200, 2.0), SR, 50, 25)
    voiced = column(features, spectral, "voiced") > 0
    assert voiced.mean() > 0.9
    f0 = np.exp(column(features, spectral, "log_f0")[voiced])
    assert np.allclose(f0, 200, rtol=0.01)
    assert (column(features, spectral, "voicing_prob")[voiced] > 0.85).all()


def test_silence_is_unvoiced(spectral):
    features = spectral.extract(np.zeros(SR, np.float32), SR, 25, 25)
    assert (column(features, spectral, "voiced") == 0).all()
    assert (column(features, spectral, "voicing_prob") == 0).all()


def test_short_audio_tail_is_masked_silence(spectral):
    audio = tone(300, 1.0)
    features = spectral.extract(audio, SR, 50, 25)
    mask = audio_frame_mask(audio.size, SR, 50, 25)
    assert mask[:25].all() and not mask[25:].any()
    silence = spectral.extract(np.zeros(10, np.float32), SR, 1, 25)[0]
    assert np.allclose(features[30:], silence, atol=1e-4)  # windows past the audio: silence
    assert column(features, spectral, "rms_db")[1:24].min() > -10  # frame 0: half a window


@pytest.mark.parametrize("fps, frame", [(25.0, 50), (30.0, 60)])
def test_click_aligns_with_its_frame(spectral, fps, frame):
    audio = np.zeros(4 * SR, np.float32)
    audio[2 * SR : 2 * SR + 16] = 0.9
    features = spectral.extract(audio, SR, int(4 * fps), fps)
    assert abs(int(np.argmax(column(features, spectral, "rms_db"))) - frame) <= 1
    envelope = speech_envelope(audio, SR, int(4 * fps), fps)
    assert abs(int(np.argmax(envelope)) - frame) <= 1


def test_speech_envelope_matches_the_channel(spectral):
    audio = np.random.default_rng(1).normal(0, 0.2, 2 * SR).astype(np.float32)
    features = spectral.extract(audio, SR, 50, 25)
    envelope = speech_envelope(audio, SR, 50, 25)
    assert envelope.shape == (50,)
    assert np.allclose(envelope, column(features, spectral, "speech_env_db"), atol=1e-4)


def test_real_clip_has_voiced_speech(spectral, clips_dir):
    video = next(iter(sorted((clips_dir / "real").glob("sadtalker_*.mp4"))))
    audio = mp4_audio(video)
    num_frames = int(audio.size / SR * 25)
    features = spectral.extract(audio, SR, num_frames, 25)
    assert np.isfinite(features).all()
    assert audio_frame_mask(audio.size, SR, num_frames, 25).all()
    assert 0.2 < column(features, spectral, "voiced").mean() < 0.95


# --- DNSMOS ---------------------------------------------------------------------------------


def test_dnsmos_import_is_silent():
    code = "import talkscore.extractors.dnsmos"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout == "" and result.stderr == ""


def test_dnsmos_clean_beats_noisy(speech, capfd):
    dnsmos_module._sessions.cache_clear()
    clean = dnsmos(speech)
    noise = np.random.default_rng(0).normal(size=speech.size).astype(np.float32)
    noise *= np.sqrt(np.mean(speech**2) / np.mean(noise**2) / 10 ** (5 / 10))
    noisy = dnsmos(speech + noise)
    assert set(clean) == {"ovrl", "sig", "bak", "p808"}
    assert all(1.0 <= value <= 5.0 for value in clean.values())
    assert noisy["ovrl"] < clean["ovrl"], f"clean {clean}, 5 dB SNR {noisy}"
    assert noisy["bak"] < clean["bak"]
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_dnsmos_short_audio(speech):
    scores = dnsmos(speech[: int(1.5 * SR)])
    assert all(1.0 <= value <= 5.0 for value in scores.values())
    windows = dnsmos_windows(speech[: SR // 2])
    assert len(windows) == 1 and windows[0]["end"] == pytest.approx(0.5)


def test_dnsmos_windows_cover_the_clip(speech):
    audio = speech[: int(4.5 * SR)]
    windows = dnsmos_windows(audio, window_s=2.0, hop_s=1.0)
    assert [w["start"] for w in windows] == [0.0, 1.0, 2.0, 2.5]
    assert windows[-1]["end"] == pytest.approx(4.5)
    assert all(w["end"] - w["start"] == pytest.approx(2.0) for w in windows)
    assert all(1.0 <= w[key] <= 5.0 for w in windows for key in ("ovrl", "sig", "bak", "p808"))

    frames = window_frame_features(
        dnsmos_windows(audio, SR), 125, 25
    )  # 5 s of video: the tail has no audio
    assert frames.shape == (125, 4) and frames.dtype == np.float32
    assert np.isfinite(frames).all()
    first = [windows[0][k] for k in ("ovrl", "sig", "bak", "p808")]
    last = [windows[-1][k] for k in ("ovrl", "sig", "bak", "p808")]
    assert np.allclose(frames[0], first, atol=1e-5)
    assert np.allclose(frames[-1], last, atol=1e-5)


def test_dnsmos_resamples_other_rates(speech):
    audio = speech[: int(9.5 * SR)]
    at_8k = soxr.resample(audio, SR, 8000).astype(np.float32)
    assert 1.0 <= dnsmos(at_8k, sample_rate=8000)["ovrl"] <= 5.0


# --- wav2vec2 -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_wav2vec2(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    config = transformers.Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(32, 32),
        conv_kernel=(10, 3),
        conv_stride=(5, 2),
        num_feat_extract_layers=2,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        vocab_size=8,
    )
    folder = tmp_path_factory.mktemp("tiny_wav2vec2")
    transformers.Wav2Vec2Model(config).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("fps, num_frames", [(25.0, 50), (30.0, 75)])
def test_wav2vec2_tiny_model(tiny_wav2vec2, fps, num_frames):
    from talkscore.extractors.wav2vec2 import Wav2Vec2Backend

    backend = Wav2Vec2Backend(model=str(tiny_wav2vec2), device="cpu", batch_seconds=1.0)
    audio = np.random.default_rng(0).normal(0, 0.1, int(2.2 * SR)).astype(np.float32)
    features = backend.extract(audio, SR, num_frames, fps)
    assert features.shape == (num_frames, 32) and backend.dim == 32
    assert features.dtype == np.float32 and np.isfinite(features).all()
    assert np.array_equal(features, backend.extract(audio, SR, num_frames, fps))
    assert backend.settings_dict()["model"] == str(tiny_wav2vec2)


def test_wav2vec2_layer_is_checked(tiny_wav2vec2):
    from talkscore.extractors.wav2vec2 import Wav2Vec2Backend

    with pytest.raises(ValueError, match="layer"):
        Wav2Vec2Backend(model=str(tiny_wav2vec2), device="cpu", layer=3)


def test_wav2vec2_missing_folder(tmp_path):
    from talkscore.extractors.wav2vec2 import Wav2Vec2Backend

    with pytest.raises(BackendUnavailable, match="--audio-model"):
        Wav2Vec2Backend(model=str(tmp_path / "no-such-model"))


def test_wav2vec2_offline_hub_id(monkeypatch):
    pytest.importorskip("transformers")
    from talkscore.extractors.wav2vec2 import Wav2Vec2Backend

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BackendUnavailable, match="not available offline.*--audio-model"):
        Wav2Vec2Backend(model="talkscore-tests/no-such-model")


def test_wav2vec2_without_transformers(monkeypatch):
    from talkscore.extractors.wav2vec2 import Wav2Vec2Backend

    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(BackendUnavailable, match=r"talkscore\[hub\]"):
        Wav2Vec2Backend(model="facebook/wav2vec2-base")


@pytest.mark.parametrize(
    ("n_fft", "n_mels", "fmin", "fmax"), [(1024, 40, 50.0, 7600.0), (321, 120, 0.0, None)]
)
def test_mel_filters_are_librosas(n_fft, n_mels, fmin, fmax):
    librosa = pytest.importorskip("librosa")
    expected = librosa.filters.mel(sr=16000, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    np.testing.assert_array_equal(mel.mel_filterbank(16000, n_fft, n_mels, fmin, fmax), expected)


def test_mel_spectrogram_decibels_and_dct_are_librosas_and_scipys(clips_dir):
    librosa = pytest.importorskip("librosa")
    import scipy.fft

    audio, rate = soundfile.read(clips_dir / "audio_only" / "sadtalker_deyu.wav", dtype="float32")
    audio = soxr.resample(audio if audio.ndim == 1 else audio.mean(axis=1), rate, 16000)[:144000]
    expected = librosa.feature.melspectrogram(
        y=audio, sr=16000, n_fft=321, hop_length=160, n_mels=120
    )
    got = mel.mel_spectrogram(audio, 16000, n_fft=321, hop=160, n_mels=120)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-9)
    decibels = librosa.power_to_db(expected, ref=np.max)
    np.testing.assert_allclose(mel.power_to_db(expected), decibels, atol=1e-4)
    logmel = np.log(got.T + 1e-6)
    want = scipy.fft.dct(logmel, type=2, norm="ortho", axis=1)[:, :13]
    np.testing.assert_allclose(mel.dct(logmel, 13), want, rtol=1e-5, atol=1e-4)


def test_scoring_imports_neither_librosa_nor_scipy_nor_the_trainer():
    # scipy.stats alone, pulled in by talkscore.training, cost 0.9 s in every scoring process
    code = (
        "import sys, talkscore.scoring; from talkscore.extractors import quality, spectral, "
        "dnsmos; from talkscore.checkpoint import DEFAULT_MODEL; "
        "from talkscore.models.calibration import load_calibration; "
        "from talkscore.signals import real_reference; "
        "[c.score({}, real_reference(), (1.0, 5.0)) "
        "for c in load_calibration(DEFAULT_MODEL).values()]; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('librosa', 'scipy') "
        "or m.startswith('talkscore.training')))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"

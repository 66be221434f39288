"""Hand-crafted spectral audio features on the video frame timeline (the default audio backend).

Every video frame k gets one analysis window of `window_s` seconds centred on t_k = k / fps
(sample round(k * sample_rate / fps)), so the hop is exactly sample_rate / fps even when that is
not an integer. Frames past the end of the audio see zeros, i.e. get the features of silence.
Pitch uses a vectorised YIN on the same windows (not pyin, which takes seconds per clip); the
whole extraction of an 8 s clip takes a few milliseconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from talkscore.extractors.mel import dct, mel_filterbank
from talkscore.settings import Settings

_AMIN = 1e-10  # power floor: -100 dB
_TINY = 1e-12  # guards divisions by an all-zero window
_CHUNK_FRAMES = 1000  # video frames whose spectra are computed at once


@dataclass(frozen=True)
class SpectralSettings(Settings):
    """Options of the spectral backend; `validate()` says what to fix."""

    # mel bands of the log-mel spectrum
    n_mels: int = 40
    # cepstral coefficients kept (each also gets a delta and a delta-delta)
    n_mfcc: int = 13
    # lowest mel band edge, Hz
    fmin: float = 50.0
    # highest mel band edge, Hz (capped at the Nyquist frequency)
    fmax: float = 7600.0
    # analysis window centred on each video frame, seconds (64 ms: 1024 samples at 16 kHz)
    window_s: float = 0.064
    # fraction of spectral magnitude below the roll-off frequency
    rolloff: float = 0.85
    # lowest pitch searched by YIN, Hz
    pitch_fmin: float = 60.0
    # highest pitch searched by YIN, Hz
    pitch_fmax: float = 500.0
    # YIN threshold on the cumulative mean normalised difference; below it a frame is voiced
    yin_threshold: float = 0.15
    # frames quieter than this RMS level (dBFS) are never voiced
    voicing_floor_db: float = -50.0
    # band of the speech envelope channel, Hz
    speech_band: tuple[float, float] = (300.0, 3000.0)

    def validate(self) -> None:
        """Raise ValueError naming the first inconsistent field."""
        checks = [
            (self.n_mels > 0, "n_mels must be positive"),
            (0 < self.n_mfcc <= self.n_mels, "n_mfcc must be in 1..n_mels"),
            (0 <= self.fmin < self.fmax, "need 0 <= fmin < fmax"),
            (self.window_s > 0, "window_s must be positive"),
            (0 < self.rolloff < 1, "rolloff must be in (0, 1)"),
            (0 < self.pitch_fmin < self.pitch_fmax, "need 0 < pitch_fmin < pitch_fmax"),
            (0 < self.yin_threshold < 1, "yin_threshold must be in (0, 1)"),
            (0 <= self.speech_band[0] < self.speech_band[1], "speech_band must be (low, high)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"SpectralSettings: {message} (got {self})")


class SpectralBackend:
    """Log-mel, MFCC (+deltas), energy, spectral shape, pitch, voicing and a speech envelope."""

    name = "spectral"

    def __init__(self, settings: SpectralSettings | None = None):
        self.settings = settings or SpectralSettings()
        self.settings.validate()

    def settings_dict(self) -> dict:
        """The settings as plain JSON-able values."""
        values = asdict(self.settings)
        values["speech_band"] = list(values["speech_band"])
        return values

    @property
    def dim(self) -> int:
        """Number of features per frame."""
        return len(self.feature_names())

    def feature_names(self) -> list[str]:
        """One name per output column, in order."""
        s = self.settings
        mfcc = [f"mfcc_{i:02d}" for i in range(s.n_mfcc)]
        return (
            [f"logmel_{i:02d}" for i in range(s.n_mels)]
            + mfcc
            + [f"d_{n}" for n in mfcc]
            + [f"dd_{n}" for n in mfcc]
            + ["rms_db", "flux", "centroid_khz", "bandwidth_khz", "rolloff_khz", "flatness"]
            + ["zcr", "log_f0", "voicing_prob", "voiced", "speech_env_db"]
        )

    def extract(
        self, audio: np.ndarray, sample_rate: int, num_frames: int, fps: float
    ) -> np.ndarray:
        """Features of each video frame, float32 [num_frames, dim]."""
        s = self.settings
        frames = frame_audio(audio, sample_rate, num_frames, fps, s.window_s)
        chunks = [
            self._frame_columns(frames[start : start + _CHUNK_FRAMES], sample_rate)
            for start in range(0, max(len(frames), 1), _CHUNK_FRAMES)
        ]  # per frame, in chunks: the spectra of a long video never sit in memory at once
        logmel, rms_db, shape, zcr, log_f0, voicing, band = (
            np.concatenate(parts) for parts in zip(*chunks, strict=True)
        )
        mfcc = dct(logmel, s.n_mfcc)
        delta = _delta(mfcc)
        voicing = np.where(rms_db > s.voicing_floor_db, voicing, 0.0)
        voiced = voicing > 1 - s.yin_threshold
        columns = [
            logmel,
            mfcc,
            delta,
            _delta(delta),
            rms_db[:, None],
            _flux(logmel)[:, None],
            shape,
            zcr[:, None],
            np.where(voiced, log_f0, 0.0)[:, None],
            voicing[:, None],
            voiced[:, None],
            band[:, None],
        ]
        return np.concatenate(columns, axis=1).astype(np.float32)

    def _frame_columns(self, frames: np.ndarray, sample_rate: int) -> tuple[np.ndarray, ...]:
        """The features of each window on its own: log-mel, level, spectral shape, zero
        crossings, log f0 and voicing (YIN), speech-band level."""
        s = self.settings
        power, freqs = _power_spectrum(frames)
        freqs = freqs * sample_rate
        log_f0, voicing = _yin(frames, sample_rate, s)
        return (
            _log_mel(power, sample_rate, frames.shape[1], s),
            10 * np.log10(np.maximum(np.mean(frames**2, axis=1), _AMIN)),
            _spectral_shape(power, freqs, s.rolloff),
            _zero_crossing_rate(frames),
            log_f0,
            voicing,
            _band_db(power, freqs, s.speech_band),
        )


def speech_envelope(
    audio: np.ndarray,
    sample_rate: int,
    num_frames: int,
    fps: float,
    band: tuple[float, float] = SpectralSettings.speech_band,
    window_s: float = SpectralSettings.window_s,
) -> np.ndarray:
    """Log energy (dB) in the speech band (300-3000 Hz) around each frame time, [num_frames]."""
    frames = frame_audio(audio, sample_rate, num_frames, fps, window_s)
    power, freqs = _power_spectrum(frames)
    return _band_db(power, freqs * sample_rate, band).astype(np.float32)


def log_mel(
    audio: np.ndarray,
    sample_rate: int,
    num_frames: int,
    fps: float,
    settings: SpectralSettings | None = None,
) -> np.ndarray:
    """Log-mel spectrum (dB) of windows centred on the times k / fps, [num_frames, n_mels]."""
    s = settings or SpectralSettings()
    frames = frame_audio(audio, sample_rate, num_frames, fps, s.window_s)
    power, _ = _power_spectrum(frames)
    return _log_mel(power, sample_rate, frames.shape[1], s).astype(np.float32)


def audio_frame_mask(num_samples: int, sample_rate: int, num_frames: int, fps: float) -> np.ndarray:
    """True for frames whose time k / fps lies inside the audio, [num_frames] bool."""
    return np.arange(num_frames) / fps < num_samples / sample_rate


def frame_audio(
    audio: np.ndarray, sample_rate: int, num_frames: int, fps: float, window_s: float
) -> np.ndarray:
    """Windows of round(window_s * sample_rate) samples centred on each frame time, zero-padded."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"audio must be mono [samples], got shape {audio.shape}")
    if num_frames < 0 or fps <= 0 or sample_rate <= 0:
        raise ValueError(
            f"need num_frames >= 0, fps > 0 and sample_rate > 0; "
            f"got {num_frames}, {fps}, {sample_rate}"
        )
    length = max(2, round(window_s * sample_rate))
    centres = np.round(np.arange(num_frames) * sample_rate / fps).astype(np.int64)
    last = int(centres[-1]) if num_frames else 0
    right = max(0, last + length - (audio.size + length // 2))
    padded = np.pad(audio, (length // 2, right))
    return np.lib.stride_tricks.sliding_window_view(padded, length)[centres]


def _power_spectrum(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hann-windowed one-sided power, scaled so a band's sum is its mean-square level."""
    length = frames.shape[1]
    window = np.hanning(length + 2)[1:-1].astype(np.float32)
    spectrum = np.fft.rfft(frames * window, axis=1)
    power = 2 * np.abs(spectrum) ** 2 / (length * np.sum(window**2))
    return power, np.fft.rfftfreq(length)


def _log_mel(power: np.ndarray, sample_rate: int, n_fft: int, s: SpectralSettings) -> np.ndarray:
    filters = mel_filterbank(sample_rate, n_fft, s.n_mels, s.fmin, min(s.fmax, sample_rate / 2))
    return 10 * np.log10(np.maximum(power @ filters.T, _AMIN))


def _delta(x: np.ndarray) -> np.ndarray:
    """Central difference along time (zeros for a single frame)."""
    return np.gradient(x, axis=0) if len(x) > 1 else np.zeros_like(x)


def _flux(logmel: np.ndarray) -> np.ndarray:
    """Mean rise of the log-mel spectrum since the previous frame (dB); 0 on the first."""
    rise = np.maximum(np.diff(logmel, axis=0, prepend=logmel[:1]), 0.0)
    return rise.mean(axis=1)


def _spectral_shape(power: np.ndarray, freqs: np.ndarray, rolloff: float) -> np.ndarray:
    """Centroid, bandwidth, roll-off (kHz) and flatness of each frame, [frames, 4]."""
    magnitude = np.sqrt(power)
    total = magnitude.sum(axis=1)
    weights = magnitude / np.maximum(total, _TINY)[:, None]
    centroid = weights @ freqs
    bandwidth = np.sqrt(np.sum(weights * (freqs - centroid[:, None]) ** 2, axis=1))
    cumulative = np.cumsum(magnitude, axis=1)
    below = cumulative < rolloff * total[:, None]
    roll = np.where(total > 0, freqs[np.minimum(below.sum(axis=1), freqs.size - 1)], 0.0)
    clipped = np.maximum(power, _AMIN)
    flatness = np.exp(np.mean(np.log(clipped), axis=1)) / np.mean(clipped, axis=1)
    return np.stack([centroid / 1000, bandwidth / 1000, roll / 1000, flatness], axis=1)


def _zero_crossing_rate(frames: np.ndarray) -> np.ndarray:
    nonzero = frames != 0
    signs = np.signbit(frames)
    changes = (signs[:, 1:] != signs[:, :-1]) & nonzero[:, 1:] & nonzero[:, :-1]
    return changes.mean(axis=1)


def _band_db(power: np.ndarray, freqs: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    inside = (freqs >= band[0]) & (freqs <= band[1])
    return 10 * np.log10(np.maximum(power[:, inside].sum(axis=1), _AMIN))


def _yin(
    frames: np.ndarray, sample_rate: int, s: SpectralSettings
) -> tuple[np.ndarray, np.ndarray]:
    """YIN pitch per frame: (log F0 in ln Hz, voicing probability = 1 - CMND trough)."""
    length = frames.shape[1]
    min_period = max(1, int(np.floor(sample_rate / s.pitch_fmax)))
    max_period = int(np.ceil(sample_rate / s.pitch_fmin))
    if 2 * max_period >= length:
        raise ValueError(
            f"window_s={s.window_s} is too short for pitch_fmin={s.pitch_fmin} Hz; "
            f"use window_s >= {2.2 / s.pitch_fmin:.3f}"
        )
    cmnd = _cmnd(frames.astype(np.float64), max_period)
    search = cmnd[:, min_period : max_period + 1]
    period = min_period + _first_trough(search, s.yin_threshold)
    rows = np.arange(len(frames))
    below, here, above = (cmnd[rows, period + d] for d in (-1, 0, 1))
    curvature = below - 2 * here + above
    shift = np.where(curvature > 0, 0.5 * (below - above) / np.maximum(curvature, _TINY), 0.0)
    refined = period + np.clip(shift, -1.0, 1.0)
    voicing = np.clip(1.0 - here, 0.0, 1.0)
    return np.log(sample_rate / refined), voicing


def _cmnd(frames: np.ndarray, max_period: int) -> np.ndarray:
    """Cumulative mean normalised difference d'(tau) for tau = 0..max_period+1 (1 on silence)."""
    length = frames.shape[1]
    n_fft = 2 ** int(np.ceil(np.log2(2 * length)))
    spectrum = np.fft.rfft(frames, n=n_fft, axis=1)
    acf = np.fft.irfft(np.abs(spectrum) ** 2, n=n_fft, axis=1)[:, : max_period + 2]
    squares = np.cumsum(frames**2, axis=1)
    energy = squares[:, -1:]
    tau = np.arange(max_period + 2)
    head = np.concatenate([np.zeros((len(frames), 1)), squares[:, tau[1:] - 1]], axis=1)
    tail = energy - squares[:, length - 1 - tau]
    diff = np.maximum(2 * energy - head - tail - 2 * acf, 0.0)
    running = np.cumsum(diff, axis=1)
    floor = 1e-9 * np.maximum(energy, _TINY)
    return np.where(running > floor, diff * tau / np.maximum(running, _TINY), 1.0)


def _first_trough(cmnd: np.ndarray, threshold: float) -> np.ndarray:
    """Index of the first local minimum below threshold per row, else of the global minimum."""
    inner = cmnd[:, 1:-1]
    trough = (inner < threshold) & (inner <= cmnd[:, :-2]) & (inner <= cmnd[:, 2:])
    first = 1 + np.argmax(trough, axis=1)
    return np.where(trough.any(axis=1), first, np.argmin(inner, axis=1) + 1)

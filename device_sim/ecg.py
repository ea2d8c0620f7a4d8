"""Synthetic single-lead ECG strips: sinus rhythm, or atrial fibrillation.

Each beat is a sum of Gaussian waves placed around its R peak, the way ECGSYN-style
models build a PQRST complex (McSharry et al., "A dynamical model for generating
synthetic electrocardiogram signals", IEEE Trans Biomed Eng 2003): a P wave 160 ms before
R (sinus only), Q, R and S within 25 ms of it, a T wave 250 ms after. Sinus RR intervals
carry respiratory sinus arrhythmia (0.25 Hz) and 1 % jitter; in AF the P waves are gone,
the RR intervals are uniformly irregular (0.6 to 1.4 times the mean, no correlation from
beat to beat), and fibrillatory waves of 4 to 9 Hz ride on the baseline: the two
features AF detectors look for (``scoring/af.py``: RR irregularity by COSEn and the
absence of consistent P waves). Sensor noise 10 uV.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def _beats(
    rng: np.random.Generator, seconds: float, heart_rate_bpm: float, af: bool
) -> list[float]:
    mean_s = 60.0 / heart_rate_bpm
    beats, at = [], 0.3
    while at < seconds - 0.3:
        beats.append(at)
        if af:
            at += mean_s * rng.uniform(0.6, 1.4)
        else:
            at += mean_s * (1 + 0.03 * np.sin(2 * np.pi * 0.25 * at) + rng.normal(0, 0.01))
    return beats


def strip_uv(
    rng: np.random.Generator,
    *,
    seconds: float = 30.0,
    fs_hz: float = 250.0,
    heart_rate_bpm: float = 72.0,
    af: bool = False,
) -> tuple[int, ...]:
    """A strip in microvolts (integers, as the wire carries them)."""
    t = np.arange(round(seconds * fs_hz)) / fs_hz
    mv: npt.NDArray[np.float64] = np.zeros_like(t)

    def wave(centre: float, width: float, height: float) -> npt.NDArray[np.float64]:
        return height * np.exp(-0.5 * ((t - centre) / width) ** 2)

    for r in _beats(rng, seconds, heart_rate_bpm, af):
        if not af:
            mv += wave(r - 0.16, 0.025, 0.12)  # P
        mv += wave(r - 0.02, 0.008, -0.1) + wave(r, 0.01, 1.1) + wave(r + 0.025, 0.008, -0.2)
        mv += wave(r + 0.25, 0.04, 0.3)  # T
    if af:
        # f waves: 4 to 9 Hz, their rate wandering, so they line up with no beat.
        for _ in range(3):
            hz, phase = rng.uniform(4.0, 9.0), rng.uniform(0, 2 * np.pi)
            drift = 0.4 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t)
            mv += 0.025 * np.sin(2 * np.pi * hz * t + phase + drift)
    mv += rng.normal(0, 0.01, t.size)
    return tuple(int(v) for v in np.round(mv * 1000))

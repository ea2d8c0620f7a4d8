"""Synthetic single-lead ECG strips: sinus rhythm, ectopic beats, or atrial fibrillation.

Each beat is a sum of Gaussian waves placed around its R peak, the way ECGSYN-style
models build a PQRST complex (McSharry et al., "A dynamical model for generating
synthetic electrocardiogram signals", IEEE Trans Biomed Eng 2003): a P wave 160 ms before
R (sinus only), Q, R and S within 25 ms of it, a T wave 250 ms after. Sinus RR intervals
carry respiratory sinus arrhythmia (0.25 Hz) and 1 % jitter; in AF the P waves are gone,
the RR intervals are uniformly irregular (0.6 to 1.4 times the mean, no correlation from
beat to beat), and fibrillatory waves of 4 to 9 Hz ride on the baseline: the two
features AF detectors look for (``scoring/af.py``: RR irregularity by COSEn and the
absence of consistent P waves). Sensor noise 10 uV.

Ectopic beats are premature ventricular contractions (PVCs), ``ectopic_per_min`` of them
on a sinus rhythm: each comes at 60 % of the sinus interval, with no P wave, a wide QRS
(about 120 ms and more, against under 100 ms for a sinus beat) and a T wave opposite to
it, and is followed by a full compensatory pause (the next sinus beat comes on time, two
sinus intervals after the last one), as PVCs do because the sinus node is not reset
(Goldberger, Clinical Electrocardiography, 9th ed., ch. 16). Isolated PVCs are a
common, usually benign finding that an AF detector must not mistake for AF.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def beat_times(
    rng: np.random.Generator,
    seconds: float,
    heart_rate_bpm: float,
    *,
    af: bool = False,
    ectopic_per_min: float = 0.0,
) -> list[tuple[float, bool]]:
    """Beat times, each with whether it is a PVC."""
    mean_s = 60.0 / heart_rate_bpm
    # A PVC's pause takes the place of a sinus beat: with chance p after each sinus beat,
    # a minute holds HR / (1 + p) sinus beats and p times as many PVCs.
    pvc_chance = min(0.5, ectopic_per_min / max(heart_rate_bpm - ectopic_per_min, 1.0))
    beats: list[tuple[float, bool]] = []
    at = 0.3
    while at < seconds - 0.3:
        beats.append((at, False))
        if af:
            at += mean_s * rng.uniform(0.6, 1.4)
            continue
        interval = mean_s * (1 + 0.03 * np.sin(2 * np.pi * 0.25 * at) + rng.normal(0, 0.01))
        if rng.random() < pvc_chance and at + 2 * interval < seconds - 0.3:
            beats.append((at + 0.6 * interval, True))
            interval *= 2  # the compensatory pause: the sinus node keeps its time
        at += interval
    return beats


def strip_uv(
    rng: np.random.Generator,
    *,
    seconds: float = 30.0,
    fs_hz: float = 250.0,
    heart_rate_bpm: float = 72.0,
    af: bool = False,
    ectopic_per_min: float = 0.0,
) -> tuple[int, ...]:
    """A strip in microvolts (integers, as the wire carries them)."""
    t = np.arange(round(seconds * fs_hz)) / fs_hz
    mv: npt.NDArray[np.float64] = np.zeros_like(t)

    def wave(centre: float, width: float, height: float) -> npt.NDArray[np.float64]:
        return height * np.exp(-0.5 * ((t - centre) / width) ** 2)

    for r, pvc in beat_times(rng, seconds, heart_rate_bpm, af=af, ectopic_per_min=ectopic_per_min):
        if pvc:  # no P wave; a wide QRS; its T wave the other way
            mv += wave(r - 0.03, 0.02, -0.15) + wave(r, 0.025, 1.4) + wave(r + 0.05, 0.025, -0.4)
            mv += wave(r + 0.3, 0.06, -0.35)
            continue
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

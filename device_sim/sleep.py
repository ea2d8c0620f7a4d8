"""Sleep for the simulated band: a hypnogram of 90-minute cycles, and what sleep does to vitals.

Adult sleep runs in cycles of about 90 minutes (70 to 120): light sleep (N1, N2), deep
sleep (N3), light sleep again, then REM. Deep sleep fills the first cycles and fades out
after the first third of the night; REM episodes lengthen from about 10 minutes to half an
hour towards the morning; brief awakenings between cycles take under 5 % of the night
(Carskadon & Dement, "Normal human sleep: an overview", in Kryger, Roth & Dement,
Principles and Practice of Sleep Medicine, 6th ed., 2017). Over eight hours this model
gives 14 % deep sleep, 22 % REM and 2 % wake, the rest light (``hypnogram(8 * 3600)``;
``tests/device_sim/test_day_and_night.py`` holds it to those ranges): the proportions of a
healthy adult night (N3 13-23 %, REM 20-25 %).

In sleep the pulse and breathing slow (by about 10 % and 8 % here) and the band counts no
steps. The day-night swing of the pulse (``circadian_factor``) comes on top: a cosine of 8 %
with its low at 04:00 and its high at 16:00 local time, as 24-hour ambulatory recordings
show (Degaute et al., Hypertension 1991;18:199-210: a heart-rate rhythm of about 8 beats a
minute around its mean, lowest in the early morning).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Literal

Stage = Literal["wake", "light", "deep", "rem"]
CYCLE_S = 5400.0
SLEEP_PULSE_FACTOR = 0.90
SLEEP_BREATHING_FACTOR = 0.92


def _cycle(k: int) -> list[tuple[Stage, float]]:
    """Cycle ``k`` (0 first) as stages and their minutes, 90 in all."""
    deep = max(0.0, 35.0 - 12.0 * k)
    rem = min(30.0, 8.0 + 7.0 * k)
    wake = 0.0 if k == 0 else 2.0
    light = 90.0 - deep - rem - wake
    parts: list[tuple[Stage, float]] = [
        ("wake", wake),
        ("light", 0.6 * light),
        ("deep", deep),
        ("light", 0.4 * light),
        ("rem", rem),
    ]
    return [(stage, minutes) for stage, minutes in parts if minutes > 0]


def hypnogram(duration_s: float) -> list[tuple[float, float, Stage]]:
    """Stages of a sleep of ``duration_s`` from its onset: ``(from_s, to_s, stage)``."""
    out: list[tuple[float, float, Stage]] = []
    at, k = 0.0, 0
    while at < duration_s:
        for stage, minutes in _cycle(k):
            end = min(at + minutes * 60.0, duration_s)
            if out and out[-1][2] == stage:
                out[-1] = (out[-1][0], end, stage)
            else:
                out.append((at, end, stage))
            at = end
            if at >= duration_s:
                break
        k += 1
    return out


def circadian_factor(local: dt.datetime) -> float:
    """The pulse's day-night swing: 1 + 8 % x cos, lowest at 04:00, highest at 16:00."""
    hours = local.hour + local.minute / 60.0 + local.second / 3600.0
    return 1.0 + 0.08 * math.cos(2.0 * math.pi * (hours - 16.0) / 24.0)

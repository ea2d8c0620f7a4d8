"""Score records: what scoring produces and storage keeps (domain models, not wire)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

from schemas.alerts import AlertLevel

Risk = Literal["low", "low-medium", "medium", "high"]


class News2Score(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A NEWS2 aggregate with what it was computed from (see ``scoring.news2``)."""

    total: int
    points: dict[str, int]
    missing: tuple[str, ...]
    defaulted: tuple[str, ...]
    single_parameter_3: bool
    risk: Risk
    level: AlertLevel

    @property
    def partial(self) -> bool:
        """True when a parameter was missing or defaulted: the total is a lower bound."""
        return bool(self.missing or self.defaulted)


class ScoreRecord(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One NEWS2 evaluation of one wearer at a device time, with the quality of its inputs.

    ``quality``: ``good`` (no flagged input), ``reduced`` (some inputs flagged, e.g.
    taken during motion), ``poor`` (flagged inputs alone would change the level, so the
    alert level was capped). ``quality_flags`` lists ``parameter:flag`` for flagged
    inputs and for readings rejected in this batch (``spo2_pct:off_wrist``, ...).
    """

    device_id: str
    evaluated_at: dt.datetime
    news2: News2Score
    quality: Literal["good", "reduced", "poor"] = "good"
    quality_flags: tuple[str, ...] = ()


class IndexRecord(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One wellbeing index value (``scoring.indices``) of one wearer at a device time.

    ``inputs`` maps each input's name to its value, the wearer's baseline median and its
    deviation in baseline SDs (None where it could not be judged); ``missing`` lists the
    inputs left out. ``value`` is None when no input could be judged.
    """

    device_id: str
    evaluated_at: dt.datetime
    name: str  # mental_stress, physical_fatigue, anxiety_depression
    value: float | None
    inputs: dict[str, dict[str, float | None]]
    missing: tuple[str, ...] = ()

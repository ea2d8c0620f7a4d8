"""Alert levels and alert records shared by processing, alerting and storage."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Literal

import msgspec


class AlertLevel(enum.IntEnum):
    """The design's three warning levels, ordered so that ``max()`` picks the worst."""

    NONE = 0
    YELLOW = 1
    ORANGE = 2
    RED = 3

    @property
    def label(self) -> str:
        """Lower-case name as used in JSON and on the console."""
        return self.name.lower()


class Driver(msgspec.Struct, frozen=True, gc=False):
    """One parameter that scored in a NEWS2 alert: ``pulse:high``, with its points.

    Named ``<parameter>:<high|low>`` by the side of normal it lies on
    (``scoring.news2.drivers``); consciousness and oxygen by their name alone.
    """

    what: str
    points: int


class Alert(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """An alert raised for one wearer at one level.

    ``alert_id`` is derived from the triggering message's de-duplication key, so a
    replayed message can never raise the same alert twice.
    """

    alert_id: str
    device_id: str
    level: AlertLevel
    raised_at: dt.datetime  # device time of the reading or event that raised it
    source: str  # "news2", "sos", "fall"
    summary: str  # short and free of raw values: it may reach logs and SMS
    score: int | None = None
    partial: bool = False
    missing: tuple[str, ...] = ()
    drivers: tuple[Driver, ...] = ()  # NEWS2 alerts: what scored (snoozes act on it)
    share_with_contacts: bool = False  # for yellow reminders the wearer agreed to share
    # A correction after late readings (stream_processors.event_time): "amended" or
    # "retracted"; or "resolved" when the condition ended (a lost signal came back);
    # with the alert_id of the alert it refers to.
    change: Literal["raised", "amended", "retracted", "resolved"] = "raised"
    refers_to: str | None = None

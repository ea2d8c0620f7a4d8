"""Console notifier and sender: print alerts and the ladder's messages and calls.

The default when no Twilio account is configured (the demo, a developer's machine).
"""

from __future__ import annotations

import itertools
from typing import TextIO

from alerting.ladder import Action, DeviceCommand, PlaceCall
from schemas import Alert, AlertLevel


def format_alert(alert: Alert) -> str:
    """One line per alert: level, wearer, time, and the summary."""
    partial = f" (partial; missing: {', '.join(alert.missing)})" if alert.missing else ""
    # Level none marks an all-clear (e.g. back inside a fence), not an alarm.
    label = "INFO" if alert.level is AlertLevel.NONE else alert.level.label.upper()
    return (
        f"[{label}] {alert.device_id} at "
        f"{alert.raised_at.isoformat(timespec='seconds')}: {alert.summary}{partial}"
    )


class ConsoleNotifier:
    """Writes each alert as one line to a stream (standard error by default)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.delivered: list[Alert] = []

    async def notify(self, alert: Alert) -> None:
        """Print the alert."""
        self._stream.write(format_alert(alert) + "\n")
        self._stream.flush()
        self.delivered.append(alert)


class ConsoleSender:
    """Prints each ladder action as one line; nothing is sent anywhere."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._ids = itertools.count(1)
        self.sent: list[tuple[Action, str]] = []

    async def send(self, action: Action, text: str) -> str:
        """Print the action: the channel, the addressee, and what is said."""
        if isinstance(action, DeviceCommand):
            where = f"band {action.device_id}"
        elif isinstance(action, PlaceCall):
            where = f"call {action.to}"
        else:
            where = f"SMS {action.to}"
        await self.note(f"  -> {where}: {text}")
        self.sent.append((action, text))
        return f"console-{next(self._ids)}"

    async def note(self, line: str) -> None:
        """Print a line of the ladder's progress (e.g. a simulated callee's answer)."""
        self._stream.write(line + "\n")
        self._stream.flush()

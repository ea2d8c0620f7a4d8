"""Console notifier: prints alerts, the default when no Twilio account is configured."""

from __future__ import annotations

from typing import TextIO

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

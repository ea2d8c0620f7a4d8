"""The notifier protocol: what the pipeline calls for each new alert."""

from __future__ import annotations

from typing import Protocol

from schemas import Alert


class Notifier(Protocol):
    """Delivers an alert somewhere (console, MQTT app topic, later Twilio)."""

    async def notify(self, alert: Alert) -> None:
        """Deliver one alert; raise to have it retried on the next start."""
        ...

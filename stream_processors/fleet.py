"""All devices' processors: plan outputs for a chunk, adopt the states once stored.

Besides the device-time processors, the fleet keeps each band's ``Contact`` and each
gateway's last status in receive time (``silence.py``), and a ``tick`` with the
receive clock's "now" raises "signal lost" for silent bands of wearers at risk.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping

import msgspec

from schemas import Alert, EventV1, GatewayStatusV1, TelemetryBatchV1
from schemas.scores import IndexRecord, Risk, ScoreRecord
from stream_processors.device import ProcessorSettings, WearerProfile
from stream_processors.event_time import OrderedState, step_in_order
from stream_processors.silence import (
    Cause,
    Contact,
    Gateway,
    check,
    classify,
    observe,
    observe_gateway,
)


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """Outputs of a chunk, and the states to adopt after they are durable."""

    states: dict[str, OrderedState]
    scores: list[ScoreRecord]
    alerts: list[Alert]
    indices: list[IndexRecord]
    failures: list[tuple[TelemetryBatchV1 | EventV1, str]]
    too_late: int = 0  # batches older than the lateness bound: stored, not scored
    contacts: dict[str, Contact] = msgspec.field(default_factory=dict)
    gateways: dict[str, Gateway] = msgspec.field(default_factory=dict)


def check_band(
    device_id: str,
    contact: Contact,
    *,
    state: OrderedState | None,
    gateways: Mapping[str, Gateway],
    profile: WearerProfile,
    settings: ProcessorSettings,
    now: dt.datetime,
    backend_ok: bool,
) -> tuple[Contact, Alert | None]:
    """``silence.check`` for one band, at its current NEWS2 risk and through its gateway.

    The risk is the processor's last score, else the one stored before a restart, else
    low. Both runners use it: ``Fleet.tick`` and the Kafka workers' silence timer.
    """
    last = state.current.last_recorded if state and state.current else None
    risk = last.news2.risk if last is not None else (contact.risk or "low")
    return check(
        device_id,
        contact,
        risk=risk,
        gateway=gateways.get(contact.gateway_id) if contact.gateway_id else None,
        now=now,
        settings=settings.silence,
        at_risk=profile.at_risk,
        backend_ok=backend_ok,
    )


class Fleet:
    """Per-device states, advanced only by :meth:`adopt` (after a commit)."""

    def __init__(
        self,
        settings: ProcessorSettings | None = None,
        profiles: Callable[[str], WearerProfile] | None = None,
    ) -> None:
        self.settings = settings or ProcessorSettings()
        self._profiles = profiles or (lambda _device_id: WearerProfile())
        self._states: dict[str, OrderedState] = {}
        self._contacts: dict[str, Contact] = {}
        self._gateways: dict[str, Gateway] = {}

    def plan(
        self,
        messages: Iterable[TelemetryBatchV1 | EventV1],
        *,
        received_at: dt.datetime | None = None,
        gateways: Iterable[GatewayStatusV1] = (),
    ) -> Plan:
        """Run every message through its device's processor without adopting the states.

        With ``received_at`` (the chunk's receive time) the bands' contacts are updated
        too, and a band heard from again after "signal lost" gets its ``resolved`` record.
        """
        staged: dict[str, OrderedState] = {}
        contacts: dict[str, Contact] = {}
        scores: list[ScoreRecord] = []
        alerts: list[Alert] = []
        indices: list[IndexRecord] = []
        failures: list[tuple[TelemetryBatchV1 | EventV1, str]] = []
        too_late = 0
        for msg in messages:
            device = msg.device_id
            if received_at is not None:
                contact, resolved = observe(
                    contacts.get(device, self._contacts.get(device)), msg, received_at
                )
                contacts[device] = contact
                if resolved is not None:
                    alerts.append(resolved)
            state = staged.get(device, self._states.get(device))
            try:
                result = step_in_order(state, msg, self._profiles(device), self.settings)
            except Exception as exc:  # noqa: BLE001 - a bug for one message must not stop all
                # The message is stored all the same; the failure becomes a dead letter.
                failures.append((msg, f"{type(exc).__name__}: {exc}"))
                continue
            staged[device] = result.state
            too_late += result.order == "too_late"
            scores.extend(result.scores)
            alerts.extend(result.alerts)
            indices.extend(result.indices)
        return Plan(
            states=staged,
            scores=scores,
            alerts=alerts,
            indices=indices,
            failures=failures,
            too_late=too_late,
            contacts=contacts,
            gateways={
                g.gateway_id: observe_gateway(g, received_at or g.reported_at) for g in gateways
            },
        )

    def tick(self, now: dt.datetime, *, backend_ok: bool = True) -> Plan:
        """Raise "signal lost" for bands silent too long for their risk (receive time).

        ``backend_ok`` false (the runner is not receiving, or has not caught up since it
        reconnected) raises nothing: the silence may be Vigil's own.
        """
        contacts: dict[str, Contact] = {}
        alerts: list[Alert] = []
        for device, contact in self._contacts.items():
            new, alert = check_band(
                device,
                contact,
                state=self._states.get(device),
                gateways=self._gateways,
                profile=self._profiles(device),
                settings=self.settings,
                now=now,
                backend_ok=backend_ok,
            )
            if alert is not None:
                contacts[device] = new
                alerts.append(alert)
        return Plan(states={}, scores=[], alerts=alerts, indices=[], failures=[], contacts=contacts)

    def seed_contact(
        self,
        device_id: str,
        received_at: dt.datetime,
        gateway_id: str | None = None,
        risk: Risk | None = None,
    ) -> None:
        """Know a band from before a restart (its last message and risk, as stored)."""
        if device_id not in self._contacts:
            self._contacts[device_id] = Contact(
                received_at=received_at, gateway_id=gateway_id, risk=risk
            )

    def silence_causes(self, *, backend_ok: bool = True) -> dict[str, Cause]:
        """Each known band's likely cause of silence, were it silent now (for status pages)."""
        return {
            device: classify(
                contact,
                self._gateways.get(contact.gateway_id) if contact.gateway_id else None,
                self.settings.silence,
                backend_ok=backend_ok,
            )
            for device, contact in self._contacts.items()
        }

    def adopt(self, plan: Plan) -> None:
        """Make a plan's states current: call only once its outputs are stored."""
        self._states.update(plan.states)
        self._contacts.update(plan.contacts)
        self._gateways.update(plan.gateways)

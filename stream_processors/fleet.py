"""All devices' processors: plan outputs for a chunk, adopt the states once stored."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import msgspec

from schemas import Alert, EventV1, TelemetryBatchV1
from schemas.scores import IndexRecord, ScoreRecord
from stream_processors.device import ProcessorSettings, WearerProfile
from stream_processors.event_time import OrderedState, step_in_order


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """Outputs of a chunk, and the states to adopt after they are durable."""

    states: dict[str, OrderedState]
    scores: list[ScoreRecord]
    alerts: list[Alert]
    indices: list[IndexRecord]
    failures: list[tuple[TelemetryBatchV1 | EventV1, str]]
    too_late: int = 0  # batches older than the lateness bound: stored, not scored


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

    def plan(self, messages: Iterable[TelemetryBatchV1 | EventV1]) -> Plan:
        """Run every message through its device's processor without adopting the states."""
        staged: dict[str, OrderedState] = {}
        scores: list[ScoreRecord] = []
        alerts: list[Alert] = []
        indices: list[IndexRecord] = []
        failures: list[tuple[TelemetryBatchV1 | EventV1, str]] = []
        too_late = 0
        for msg in messages:
            device = msg.device_id
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
        )

    def adopt(self, plan: Plan) -> None:
        """Make a plan's states current: call only once its outputs are stored."""
        self._states.update(plan.states)

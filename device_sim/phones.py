"""Simulated phones for the demo and testers: each number answers its calls in its own way.

The ladder's actions are printed (``ConsoleSender``) and, for a call, the callee's
outcome comes back to the ladder driver after ``ring_s``, as Twilio's status callback
would: no answer, busy, a voicemail (completed, answered by a machine), answered
without pressing 1, or answered and confirmed. Nothing leaves the process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Literal

from alerting.console import ConsoleSender
from alerting.driver import LadderDriver
from alerting.ladder import Action, CallEnded, PlaceCall, ladder_id_of

Answer = Literal["no-answer", "busy", "voicemail", "answer", "confirm"]

_OUTCOMES: Mapping[Answer, tuple[str, str | None, bool]] = {
    "no-answer": ("no-answer", None, False),
    "busy": ("busy", None, False),
    "voicemail": ("completed", "machine_end_beep", False),
    "answer": ("completed", "human", False),
    "confirm": ("completed", "human", True),
}


class SimulatedPhones:
    """A ``Sender`` whose callees answer as ``answers`` says (default: no answer)."""

    def __init__(
        self, console: ConsoleSender, answers: Mapping[str, Answer], *, ring_s: float = 2.0
    ) -> None:
        self.console = console
        self.answers = dict(answers)
        self.ring_s = ring_s
        self.driver: LadderDriver | None = None  # set once the driver exists
        self._pending: set[asyncio.Task[None]] = set()

    async def send(self, action: Action, text: str) -> str:
        """Print the action; a call is answered (or not) ``ring_s`` later."""
        sid = await self.console.send(action, text)
        if isinstance(action, PlaceCall):
            task = asyncio.create_task(self._ring(action))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        return sid

    async def _ring(self, call: PlaceCall) -> None:
        await asyncio.sleep(self.ring_s)
        answer = self.answers.get(call.to, "no-answer")
        status, answered_by, confirmed = _OUTCOMES[answer]
        await self.console.note(f"  <- {call.to}: {answer}")
        if self.driver is not None:
            await self.driver.on_event(
                ladder_id_of(call.key),
                CallEnded(
                    at=self.driver.clock(),
                    key=call.key,
                    status=status,
                    answered_by=answered_by,
                    confirmed=confirmed,
                ),
            )

"""A cap on the dead letters one topic may leave (issue 10): a flood is counted, not kept.

Every refused payload is a dead-letter row of up to 64 KB (``schemas.records``). A band
that sends garbage as fast as the broker lets it would fill the disk with them. So each
topic (each band) may leave ``burst`` dead letters at once and ``per_minute`` after
that; the rest are counted and summed up in one ``flood`` dead letter per topic and
``summary_every_s`` (how many, and why), so the record of the flood stays while the
rows do not. All topics together may leave ten times as many: a flood over made-up
topics (no broker ACL) would otherwise get a fresh bucket per topic. Payloads that
decode are never held back here: this touches refusals only.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Sequence

import msgspec

from schemas.records import DeadLetter
from vigil.rate_limits import TokenBuckets

MAX_HELD_TOPICS = 1000  # topics summed up one by one; beyond, together


class ValveLimits(msgspec.Struct, frozen=True, kw_only=True):
    """How many dead letters a topic may leave; ``per_minute`` 0: no cap."""

    per_minute: float = 60.0
    burst: int = 100
    summary_every_s: float = 60.0


class DeadLetterValve:
    """Lets dead letters through per topic while its bucket lasts; counts the rest."""

    def __init__(self, limits: ValveLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self.buckets = TokenBuckets(limits.per_minute / 60.0, limits.burst, clock)
        self.total = TokenBuckets(limits.per_minute / 6.0, limits.burst * 10, clock)
        self._held: dict[str, Counter[str]] = {}  # topic -> reasons not kept since its summary
        self._summed_at: dict[str, float] = {}

    def admit(
        self, letters: Sequence[DeadLetter], now: dt.datetime
    ) -> tuple[list[DeadLetter], int]:
        """The dead letters to keep (summaries due included), and how many were not kept."""
        if self.limits.per_minute <= 0:
            return list(letters), 0
        kept: list[DeadLetter] = []
        held = 0
        for letter in letters:
            if self.buckets.take(letter.topic) == 0 and self.total.take("") == 0:
                kept.append(letter)
                continue
            topic = letter.topic
            if topic not in self._held and len(self._held) >= MAX_HELD_TOPICS:
                topic = "(other topics)"
            self._held.setdefault(topic, Counter())[letter.reason] += 1
            self._summed_at.setdefault(topic, self.clock())
            held += 1
        kept.extend(self._summaries(now))
        return kept, held

    def _summaries(self, now: dt.datetime) -> list[DeadLetter]:
        due = [
            topic
            for topic, since in self._summed_at.items()
            if self.clock() - since >= self.limits.summary_every_s
        ]
        letters = []
        for topic in due:
            reasons = self._held.pop(topic)
            del self._summed_at[topic]
            count = sum(reasons.values())
            why = ", ".join(f"{reason} {n}" for reason, n in sorted(reasons.items()))
            letters.append(
                DeadLetter.of(
                    received_at=now,
                    topic=topic,
                    reason="flood",
                    detail=f"{count} more dead letters of this topic counted, not kept ({why})",
                    payload=b"",
                )
            )
        return letters

"""Hand new alerts to the notifiers; the caller marks the delivered ones in the outbox."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from alerting.notifier import Notifier
from schemas import Alert

log = logging.getLogger(__name__)


async def deliver(alerts: Sequence[Alert], notifiers: Sequence[Notifier]) -> list[str]:
    """Notify each alert through every notifier; return the ids that went through.

    An alert a notifier fails on stays undelivered (in the outbox: ``notified_at`` not
    set), so it is tried again on the next pass or start; the others go on.
    """
    delivered = []
    for alert in alerts:
        try:
            for notifier in notifiers:
                await notifier.notify(alert)
        except Exception:
            log.exception("delivering alert %s failed", alert.alert_id)
            continue
        delivered.append(alert.alert_id)
    return delivered

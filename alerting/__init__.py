"""Warning levels, notifiers and (later) the escalation ladder."""

from alerting.console import ConsoleNotifier, format_alert
from alerting.notifier import Notifier

__all__ = ["ConsoleNotifier", "Notifier", "format_alert"]

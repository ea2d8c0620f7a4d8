"""Errors of the MQTT adapter, named by remedy."""

from __future__ import annotations


class MqttError(Exception):
    """Base of MQTT adapter errors."""


class BrokerUnavailable(MqttError):  # noqa: N818 - named by remedy: it retries
    """The broker cannot be reached right now; the source keeps retrying."""


class NotAuthorized(MqttError):  # noqa: N818 - named by remedy: fix the credentials
    """The broker refused our credentials or the subscription: a human must act."""


class MqttProtocolError(MqttError):
    """The broker sent bytes that are not valid MQTT for us: drop the connection and retry."""


class BrokerRefused(MqttError):  # noqa: N818 - named by remedy: it retries
    """The broker refused the connection for a reason a retry may fix (busy, unavailable)."""

"""Per-device state machines over ``scoring``, and the runners that drive them."""

from stream_processors.device import DeviceState, ProcessorSettings, WearerProfile, step
from stream_processors.fleet import Fleet, Plan

__all__ = ["DeviceState", "Fleet", "Plan", "ProcessorSettings", "WearerProfile", "step"]

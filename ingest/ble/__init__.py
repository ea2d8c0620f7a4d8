"""Bluetooth LE ingest: GATT health characteristics decoded sans I/O.

``gatt`` decodes the characteristics, ``ieee11073`` their number formats, ``samples``
turns the measurements into telemetry samples.
"""

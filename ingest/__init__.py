"""Ingest adapters: MQTT today (BLE gateway later), thin glue over ``schemas`` decoding."""

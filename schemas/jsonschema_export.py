"""Export the wire models' JSON Schemas to ``schemas/jsonschema/`` (``vigil schemas export``)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import msgspec

from schemas.events import EventV1
from schemas.gateway import GatewayStatusV1
from schemas.telemetry import TelemetryBatchV1

SCHEMA_DIR = Path(__file__).parent / "jsonschema"
MODELS: dict[str, type[msgspec.Struct]] = {
    "telemetry.v1.json": TelemetryBatchV1,
    "event.v1.json": EventV1,
    "gateway_status.v1.json": GatewayStatusV1,
}


def _clean_descriptions(node: Any) -> Any:
    """Docstrings dedented (``inspect.cleandoc``), whichever msgspec made the schema.

    msgspec 0.23 began to dedent docstrings itself; the committed files must not depend
    on which version is installed.
    """
    if isinstance(node, dict):
        return {
            k: inspect.cleandoc(v)
            if k == "description" and isinstance(v, str)
            else _clean_descriptions(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_clean_descriptions(v) for v in node]
    return node


def render(model: type[msgspec.Struct]) -> str:
    """The JSON Schema of one model, as the committed file should read."""
    schema = _clean_descriptions(msgspec.json.schema(model))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def export(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every model's schema file; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in MODELS.items():
        path = directory / name
        path.write_text(render(model), encoding="utf-8")
        written.append(path)
    return written

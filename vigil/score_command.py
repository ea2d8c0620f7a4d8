"""``vigil score``: JSON lines of vital sets in, JSON lines of NEWS2 results out.

Input fields use the telemetry schema's names (``respiration_rate_per_min``,
``spo2_pct``, ``systolic_mmhg``, ``heart_rate_bpm``, ``temp_c``), all optional (absent
means not measured), plus what a clinician records: ``consciousness``, ``on_oxygen``
and ``spo2_scale`` (2 only for confirmed hypercapnic respiratory failure). One output
line per input line, in order; a line that cannot be read gives ``{"line": N,
"error": ...}`` in its place and the command exits 1 at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Annotated, Literal

import msgspec
import numpy as np

from schemas.alerts import AlertLevel
from scoring.news2 import PARAMETERS, Consciousness
from scoring.news2_batch import MEASURED, RISKS, news2_columns

CHUNK = 10_000


class VitalSet(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One set of vitals; bounds as in the telemetry schema."""

    respiration_rate_per_min: Annotated[float, msgspec.Meta(ge=0, le=100)] | None = None
    spo2_pct: Annotated[float, msgspec.Meta(ge=0, le=100)] | None = None
    systolic_mmhg: Annotated[float, msgspec.Meta(ge=20, le=300)] | None = None
    heart_rate_bpm: Annotated[float, msgspec.Meta(ge=0, le=300)] | None = None
    temp_c: Annotated[float, msgspec.Meta(ge=20, le=45)] | None = None
    consciousness: Consciousness | None = None
    on_oxygen: bool | None = None
    spo2_scale: Literal[1, 2] = 1


_decoder = msgspec.json.Decoder(VitalSet)
_encoder = msgspec.json.Encoder()
_LEVELS = {int(level): level.label for level in AlertLevel}


def _column(sets: list[VitalSet], name: str) -> np.ndarray:
    return np.array([getattr(s, name) for s in sets], dtype=np.float64)


def _score_chunk(sets: list[VitalSet]) -> list[bytes]:
    def flags(values: list[bool | None]) -> np.ndarray:
        return np.array([np.nan if v is None else float(v) for v in values])

    result = news2_columns(
        respiration_rate_per_min=_column(sets, "respiration_rate_per_min"),
        spo2_pct=_column(sets, "spo2_pct"),
        systolic_mmhg=_column(sets, "systolic_mmhg"),
        pulse_bpm=_column(sets, "heart_rate_bpm"),
        temp_c=_column(sets, "temp_c"),
        alert=flags(
            [None if s.consciousness is None else s.consciousness == "alert" for s in sets]
        ),
        on_oxygen=flags([s.on_oxygen for s in sets]),
        spo2_scale2=np.array([s.spo2_scale == 2 for s in sets], dtype=bool),
    )
    out = []
    for i in range(len(sets)):
        missing = [name for name in MEASURED if result.missing[name][i]]
        out.append(
            _encoder.encode(
                {
                    "news2": int(result.total[i]),
                    "points": {
                        name: int(result.points[name][i])
                        for name in PARAMETERS
                        if name not in missing
                    },
                    "missing": [name for name in PARAMETERS if name in missing],
                    "defaulted": [k for k, v in result.defaulted.items() if v[i]],
                    "partial": bool(missing) or any(v[i] for v in result.defaulted.values()),
                    "single_parameter_3": bool(result.single_parameter_3[i]),
                    "risk": RISKS[int(result.risk[i])],
                    "level": _LEVELS[int(result.level[i])],
                }
            )
        )
    return out


def score_lines(lines: Iterable[bytes]) -> Iterator[tuple[bytes, bool]]:
    """(output line, ok) for every non-blank input line, in order."""
    pending: list[tuple[int, VitalSet | str]] = []

    def flush() -> Iterator[tuple[bytes, bool]]:
        sets = [item for _, item in pending if isinstance(item, VitalSet)]
        scored = iter(_score_chunk(sets)) if sets else iter(())
        for number, item in pending:
            if isinstance(item, VitalSet):
                yield next(scored), True
            else:
                yield _encoder.encode({"line": number, "error": item}), False
        pending.clear()

    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            pending.append((number, _decoder.decode(raw)))
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            pending.append((number, str(exc)))
        if len(pending) >= CHUNK:
            yield from flush()
    yield from flush()

r"""Readings as PostgreSQL ``COPY ... FROM STDIN`` text, built straight from the samples.

COPY of readings is the hot path of ingest (``bench/ingest.py``), so instead of
adapting every value of every row, each sample type gets a line template made once:
columns the type never fills are a literal ``\N``, and each field it has gets a
converter chosen from its declared type. The rows equal those of
``storage.records.reading_rows`` (a test checks every sample type against them).

Text format: PostgreSQL documentation, "COPY", section "Text Format" (tab-separated,
``\N`` for NULL, backslash escapes; arrays as ``{v1,v2}`` literals).
"""

from __future__ import annotations

import datetime as dt
import operator
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, Final

import msgspec

from schemas import TelemetryBatchV1
from schemas.telemetry import AnySample, Ecg
from storage.records import READING_VALUE_COLUMNS

_ESCAPES: Final = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_BOOL: Final = {True: "t", False: "f", None: "\\N"}


def _escaped(value: str | None) -> str:
    return "\\N" if value is None else value.translate(_ESCAPES)


def _number(value: float | None) -> str:
    return "\\N" if value is None else repr(value)


def _float_array(values: tuple[float, ...]) -> str:
    return "{" + ",".join(map(repr, values)) + "}"


def _converter(annotation: Any) -> Callable[[Any], str]:
    """The COPY text converter for a field declared with ``annotation``."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _converter(args[0])  # Optional[X]: each converter maps None to \N
    if annotation is bool:
        return _BOOL.__getitem__
    if annotation in (int, float):
        return _number
    if origin is tuple:
        return _float_array
    if annotation is str or origin is typing.Literal:
        return _escaped
    raise TypeError(f"no COPY text converter for {annotation!r}")


LineBuilder = Callable[[str, int, str, str, Any], str]


def _builder(
    literals: list[str], getter: Any, converters: list[Callable[[Any], str]]
) -> LineBuilder:
    """A line builder for one sample type (an f-string per arity: no format string parsed)."""
    if len(converters) == 1:
        (l0, l1), (c0,) = literals, converters

        def one(head: str, index: int, stamp: str, received: str, sample: Any) -> str:
            return f"{head}{index}\t{stamp}\t{received}{l0}{c0(getter(sample))}{l1}"

        return one
    if len(converters) == 2:
        (l0, l1, l2), (c0, c1) = literals, converters

        def two(head: str, index: int, stamp: str, received: str, sample: Any) -> str:
            v0, v1 = getter(sample)
            return f"{head}{index}\t{stamp}\t{received}{l0}{c0(v0)}{l1}{c1(v1)}{l2}"

        return two
    if len(converters) == 3:
        (l0, l1, l2, l3), (c0, c1, c2) = literals, converters

        def three(head: str, index: int, stamp: str, received: str, sample: Any) -> str:
            v0, v1, v2 = getter(sample)
            return f"{head}{index}\t{stamp}\t{received}{l0}{c0(v0)}{l1}{c1(v1)}{l2}{c2(v2)}{l3}"

        return three
    raise TypeError("sample types have one to three value fields")


def _null(value: Any) -> str:
    del value
    return "\\N"


def _line_builder(cls: type[AnySample], *, nulled: bool = False) -> LineBuilder:
    """The line builder of a sample type (``nulled``: every value NULL, the values sealed)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    own = set(cls.__struct_fields__) - {"measured_at"}
    unknown = own - set(READING_VALUE_COLUMNS)
    if unknown:
        raise TypeError(f"{cls.__name__} fields without a readings column: {sorted(unknown)}")
    fields = [c for c in READING_VALUE_COLUMNS if c in own]  # in column order
    tag = cls.__struct_config__.tag
    literals = [f"\t{tag}"]
    for column in READING_VALUE_COLUMNS:
        if column in own:
            literals[-1] += "\t"
            literals.append("")
        else:
            literals[-1] += "\t\\N"
    literals[-1] += "\n"
    converters = [_null if nulled else _converter(hints[f]) for f in fields]
    return _builder(literals, operator.attrgetter(*fields), converters)


_BUILDERS: Final = {cls: _line_builder(cls) for cls in typing.get_args(AnySample) if cls is not Ecg}


# With record keys, lines carry NULL values: they are sealed to ``sealed_batches``.
_SEALED_BUILDERS: Final = {
    cls: _line_builder(cls, nulled=True) for cls in typing.get_args(AnySample) if cls is not Ecg
}
_ENCODER: Final = msgspec.json.Encoder()


def _isoformat_many(moments: list[dt.datetime]) -> list[str]:
    """RFC 3339 text of many datetimes at once (one msgspec call in C, not one per value)."""
    if not moments:
        return []
    # A JSON array of RFC 3339 strings: no quote or comma can occur inside one.
    return _ENCODER.encode(moments).decode()[2:-2].split('","')


def readings_copy_text(
    batches: Sequence[tuple[TelemetryBatchV1, dt.datetime]], *, sealed: bool = False
) -> str:
    """COPY text of every non-ECG sample of ``(batch, received_at)`` pairs, in order.

    ``sealed``: the lines carry their key, time and type with NULL values (the values
    go sealed to ``sealed_batches``).
    """
    stamps = _isoformat_many([s.measured_at for batch, _ in batches for s in batch.samples])
    builders = _SEALED_BUILDERS if sealed else _BUILDERS
    lines: list[str] = []
    position = 0
    last_received: dt.datetime | None = None
    received = ""
    for batch, received_at in batches:
        if received_at is not last_received:
            last_received, received = received_at, received_at.isoformat()
        head = f"{batch.device_id.translate(_ESCAPES)}\t{batch.boot_id}\t{batch.seq}\t"
        for index, sample in enumerate(batch.samples):
            stamp = stamps[position]
            position += 1
            build = builders.get(type(sample))
            if build is not None:  # ECG strips go to their own table
                lines.append(build(head, index, stamp, received, sample))
    return "".join(lines)


def _array_text(value: str | None) -> str:
    if value is None:
        return "NULL"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def array_literals(rows: Sequence[Sequence[str | int | dt.datetime | None]]) -> list[str]:
    """One PostgreSQL array literal per column of ``rows`` (for ``unnest($1::text[], ...)``).

    psycopg adapts a Python list element by element; these literals cost a fraction
    of that for the dedup insert of every chunk. Integers are written bare, text and
    timestamps quoted, ``None`` as ``NULL`` (PostgreSQL docs, "Array Value Input").
    """
    if not rows:
        return []
    columns = list(zip(*rows, strict=True))
    out = []
    for column in columns:
        sample = next((v for v in column if v is not None), None)
        if isinstance(sample, dt.datetime):
            texts = iter(_isoformat_many([v for v in column if v is not None]))
            cells = [_array_text(None if v is None else next(texts)) for v in column]
        elif isinstance(sample, int):
            cells = ["NULL" if v is None else str(v) for v in column]
        else:
            cells = [_array_text(v) for v in column]
        out.append("{" + ",".join(cells) + "}")
    return out

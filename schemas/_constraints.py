"""Run msgspec ``Meta`` constraints on construction, not only on decode.

msgspec checks ``Annotated[..., Meta(...)]`` bounds when it decodes JSON, but a
``Struct`` built in Python skips them. Wire models must validate on construction
too (a simulator or gateway builds them in code), so every model's
``__post_init__`` calls :func:`check`, which walks checkers compiled once per class
from the same annotations that produce the JSON Schema: one source of truth.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
from msgspec import inspect as mi

_Checker = Callable[[Any, str], None]
_compiled: dict[type, tuple[tuple[str, _Checker], ...]] = {}
_state = threading.local()


@contextlib.contextmanager
def decoding() -> Iterator[None]:
    """Within this block msgspec is decoding and has checked the bounds itself."""
    _state.decoding = True
    try:
        yield
    finally:
        _state.decoding = False


def _number_checker(t: mi.IntType | mi.FloatType) -> _Checker | None:
    bounds = [(t.ge, "ge"), (t.le, "le"), (t.gt, "gt"), (t.lt, "lt")]
    if all(b is None for b, _ in bounds):
        return None

    def check(value: Any, path: str) -> None:
        if t.ge is not None and value < t.ge:
            raise msgspec.ValidationError(f"Expected `{path}` >= {t.ge}, got {value}")
        if t.le is not None and value > t.le:
            raise msgspec.ValidationError(f"Expected `{path}` <= {t.le}, got {value}")
        if t.gt is not None and value <= t.gt:
            raise msgspec.ValidationError(f"Expected `{path}` > {t.gt}, got {value}")
        if t.lt is not None and value >= t.lt:
            raise msgspec.ValidationError(f"Expected `{path}` < {t.lt}, got {value}")

    return check


def _str_checker(t: mi.StrType) -> _Checker | None:
    if t.pattern is None and t.min_length is None and t.max_length is None:
        return None
    pattern = re.compile(t.pattern) if t.pattern is not None else None

    def check(value: Any, path: str) -> None:
        if t.min_length is not None and len(value) < t.min_length:
            raise msgspec.ValidationError(f"Expected `{path}` of length >= {t.min_length}")
        if t.max_length is not None and len(value) > t.max_length:
            raise msgspec.ValidationError(f"Expected `{path}` of length <= {t.max_length}")
        if pattern is not None and not pattern.search(value):
            raise msgspec.ValidationError(f"Expected `{path}` matching {t.pattern!r}")

    return check


def _datetime_checker(t: mi.DateTimeType) -> _Checker | None:
    if t.tz is None:
        return None

    def check(value: Any, path: str) -> None:
        aware = isinstance(value, dt.datetime) and value.utcoffset() is not None
        if t.tz and not aware:
            raise msgspec.ValidationError(f"Expected `{path}` with a UTC offset")

    return check


def _sequence_checker(t: mi.ListType | mi.TupleType | mi.VarTupleType) -> _Checker | None:
    item = _checker_for(t.item_type) if not isinstance(t, mi.TupleType) else None
    min_len, max_len = getattr(t, "min_length", None), getattr(t, "max_length", None)
    if item is None and min_len is None and max_len is None:
        return None

    def check(value: Any, path: str) -> None:
        if min_len is not None and len(value) < min_len:
            raise msgspec.ValidationError(f"Expected `{path}` with at least {min_len} items")
        if max_len is not None and len(value) > max_len:
            raise msgspec.ValidationError(f"Expected `{path}` with at most {max_len} items")
        if item is not None:
            for i, v in enumerate(value):
                item(v, f"{path}[{i}]")

    return check


def _union_checker(t: mi.UnionType) -> _Checker | None:
    # Only `X | None` unions carry constraints worth checking here; nested
    # Structs check themselves in their own __post_init__.
    inner = [x for x in t.types if not isinstance(x, mi.NoneType)]
    if len(inner) != 1:
        return None
    check_inner = _checker_for(inner[0])
    if check_inner is None:
        return None

    def check(value: Any, path: str) -> None:
        if value is not None:
            check_inner(value, path)

    return check


def _checker_for(t: mi.Type) -> _Checker | None:
    while isinstance(t, mi.Metadata):  # descriptions wrap the constrained type
        t = t.type
    if isinstance(t, mi.IntType | mi.FloatType):
        return _number_checker(t)
    if isinstance(t, mi.StrType):
        return _str_checker(t)
    if isinstance(t, mi.DateTimeType):
        return _datetime_checker(t)
    if isinstance(t, mi.ListType | mi.VarTupleType):
        return _sequence_checker(t)
    if isinstance(t, mi.UnionType):
        return _union_checker(t)
    return None


def _compile(cls: type) -> tuple[tuple[str, _Checker], ...]:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)  # noqa: S101 - only Structs call check()
    out = []
    for field in info.fields:
        checker = _checker_for(field.type)
        if checker is not None:
            out.append((field.name, checker))
    return tuple(out)


def check(obj: msgspec.Struct) -> None:
    """Raise ``msgspec.ValidationError`` when a field breaks its ``Meta`` bounds."""
    if getattr(_state, "decoding", False):
        return
    cls = type(obj)
    checkers = _compiled.get(cls)
    if checkers is None:
        checkers = _compiled[cls] = _compile(cls)
    for name, checker in checkers:
        checker(getattr(obj, name), name)

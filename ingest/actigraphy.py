"""Read Actiwatch ``.AWD`` files: a 7-line header, then one activity count per line.

Header (Cambridge Neurotechnology / Philips Respironics AWD export): name, start date
(``23-Jan-1918``), start time (``13:58``), epoch code (``4`` = 1 minute; 1 = 15 s, 2 =
30 s, 8 = 2 min), age, serial number, sex. Data lines hold the count, optionally
followed by a marker column.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import numpy as np
import numpy.typing as npt

_EPOCH_CODES = {"1": 15, "2": 30, "4": 60, "8": 120, "20": 300, "81": 2, "C1": 5, "C2": 10}
_HEADER_LINES = 7


class ActigraphyError(ValueError):
    """The file is not a readable AWD recording; the message says where."""


class Actigraphy(msgspec.Struct, frozen=True, kw_only=True):
    """Counts per epoch with the recording's start and epoch length."""

    name: str
    start: dt.datetime  # local time of the device, no zone in the file
    epoch_s: int
    counts: npt.NDArray[np.float64]


def read_awd(path: str | Path) -> Actigraphy:
    """Read an AWD file (see the module docstring)."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="latin-1").splitlines()
    except OSError as exc:
        raise ActigraphyError(f"{p}: {exc.strerror or exc}") from exc
    if len(lines) < _HEADER_LINES:
        raise ActigraphyError(f"{p}: shorter than the 7-line AWD header")
    header = [ln.strip() for ln in lines[:_HEADER_LINES]]
    try:
        # The file holds the device's local time without a zone: kept naive on purpose.
        start = dt.datetime.strptime(f"{header[1]} {header[2]}", "%d-%b-%Y %H:%M")  # noqa: DTZ007
    except ValueError as exc:
        raise ActigraphyError(f"{p}: unreadable start {header[1]!r} {header[2]!r}") from exc
    epoch_s = _EPOCH_CODES.get(header[3])
    if epoch_s is None:
        raise ActigraphyError(f"{p}: unknown epoch code {header[3]!r}")
    counts = []
    for number, line in enumerate(lines[_HEADER_LINES:], start=_HEADER_LINES + 1):
        fields = line.replace(",", " ").split()
        if not fields:
            continue
        try:
            counts.append(float(fields[0]))
        except ValueError:
            raise ActigraphyError(f"{p}:{number}: not a count: {fields[0][:20]!r}") from None
    return Actigraphy(
        name=header[0],
        start=start,
        epoch_s=epoch_s,
        counts=np.asarray(counts, dtype=np.float64),
    )

"""A WFDB record reader that copes with real-world headers and says what it ignored.

Format: PhysioNet WFDB "header(5)" and "signal(5)" manual pages. Supported signal
formats: 212 (two 12-bit samples in three bytes), 16 (little-endian int16), each with
an optional byte offset (``16+24``: the MATLAB v4 ``.mat`` files of the PhysioNet
challenges hold int16 samples after a 24-byte header).

Why not ``wfdb.rdrecord``: the CinC 2017 headers write their base date first, in ISO
order (``2014-05-08 05:05:15``), which the header format does not allow, and
``wfdb.rdrecord`` refuses the whole record. Here a base time or date that cannot be
read is dropped with a warning: it does not change a single sample. Every signal's
checksum (sum of its samples modulo 2**16) is verified, so a damaged file is an
error, not a silently wrong ECG; a checksum of 0 is taken for the placeholder it is
in the CinC 2017 headers, with a warning.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import numpy as np
import numpy.typing as npt

_FORMAT = re.compile(r"^(?P<fmt>\d+)(?:x\d+)?(?::\d+)?(?:\+(?P<offset>\d+))?$")
_GAIN = re.compile(r"^(?P<gain>[-+0-9.eE]+)(?:\((?P<baseline>-?\d+)\))?(?:/(?P<units>\S+))?$")
_MAX_HEADER_BYTES = 1 << 20
_INVALID = {212: -2048, 16: -32768}


class WfdbError(ValueError):
    """The record cannot be read: the message says which file and what is wrong."""


class SignalSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One signal line of a header."""

    file_name: str
    fmt: int
    byte_offset: int
    gain: float  # ADC units per physical unit (200 when the header leaves it 0)
    baseline: int
    units: str
    adc_zero: int
    initial_value: int | None
    checksum: int | None
    description: str


class WfdbRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A record's samples in physical units (rows are samples, columns signals).

    Samples the record marks invalid (WFDB's lowest code of the format) are NaN.
    """

    name: str
    fs_hz: float
    signals: tuple[SignalSpec, ...]
    physical: npt.NDArray[np.float64]
    warnings: tuple[str, ...]

    def signal(self, index: int = 0) -> npt.NDArray[np.float64]:
        """One signal's samples in physical units."""
        return self.physical[:, index]


def _lines(text: str) -> list[str]:
    # Comments start with '#'; blank lines occur in real headers (mitdb/100.hea).
    return [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]


def _signal_spec(line: str, where: str) -> SignalSpec:
    try:
        return _signal_fields(line, where)
    except WfdbError:
        raise
    except ValueError as exc:  # a number that is not one (found by tests/fuzz)
        raise WfdbError(f"{where}: unreadable signal line {line!r}: {exc}") from None


def _signal_fields(line: str, where: str) -> SignalSpec:
    parts = line.split()
    if len(parts) < 2:
        raise WfdbError(f"{where}: signal line needs a file name and a format: {line!r}")
    fmt_match = _FORMAT.match(parts[1])
    if fmt_match is None:
        raise WfdbError(f"{where}: unreadable signal format {parts[1]!r}")
    gain, baseline, units = 200.0, None, "mV"
    if len(parts) > 2:
        gain_match = _GAIN.match(parts[2])
        if gain_match is None:
            raise WfdbError(f"{where}: unreadable gain {parts[2]!r}")
        gain = float(gain_match["gain"]) or 200.0  # 0 means "uncalibrated": WFDB uses 200
        baseline = int(gain_match["baseline"]) if gain_match["baseline"] else None
        units = gain_match["units"] or "mV"
    adc_zero = int(parts[4]) if len(parts) > 4 else 0
    return SignalSpec(
        file_name=parts[0],
        fmt=int(fmt_match["fmt"]),
        byte_offset=int(fmt_match["offset"] or 0),
        gain=gain,
        baseline=adc_zero if baseline is None else baseline,
        units=units,
        adc_zero=adc_zero,
        initial_value=int(parts[5]) if len(parts) > 5 else None,
        checksum=int(parts[6]) if len(parts) > 6 else None,
        description=" ".join(parts[8:]) if len(parts) > 8 else "",
    )


Header = tuple[str, float, int, list[SignalSpec], list[str]]


def parse_header(text: str, where: str = "header") -> Header:
    """(record name, sampling frequency, samples per signal, signals, warnings)."""
    lines = _lines(text)
    if not lines:
        raise WfdbError(f"{where}: no record line")
    record = lines[0].split()
    if len(record) < 2:
        raise WfdbError(f"{where}: record line needs a name and a signal count")
    warnings: list[str] = []
    name = record[0].split("/")[0]
    try:
        nsig = int(record[1])
        fs = float(record[2].split("/")[0].split("(")[0]) if len(record) > 2 else 250.0
        nsamp = int(record[3]) if len(record) > 3 else -1
    except ValueError as exc:
        raise WfdbError(f"{where}: unreadable record line {lines[0]!r}") from exc
    if fs <= 0 or nsig < 0:
        raise WfdbError(f"{where}: sampling frequency and signal count must be positive")
    if len(record) > 4:
        # Base time and date: informative only, and written non-standardly in the wild.
        stamp = " ".join(record[4:])
        if not re.fullmatch(r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?( \d{2}/\d{2}/\d{4})?", stamp):
            warnings.append(f"ignored a base time/date not in WFDB form: {stamp!r}")
    signals = [_signal_spec(line, where) for line in lines[1 : 1 + nsig]]
    if len(signals) != nsig:
        raise WfdbError(f"{where}: {nsig} signals announced, {len(signals)} described")
    return name, fs, nsamp, signals, warnings


def _decode_212(raw: bytes) -> npt.NDArray[np.int64]:
    triples = np.frombuffer(raw[: len(raw) - len(raw) % 3], dtype=np.uint8).reshape(-1, 3)
    b0, b1, b2 = (triples[:, i].astype(np.int64) for i in range(3))
    out = np.empty(2 * len(triples), dtype=np.int64)
    out[0::2] = b0 | ((b1 & 0x0F) << 8)
    out[1::2] = b2 | ((b1 & 0xF0) << 4)
    return np.where(out >= 2048, out - 4096, out)


def _decode(fmt: int, raw: bytes, where: str) -> npt.NDArray[np.int64]:
    if fmt == 212:
        return _decode_212(raw)
    if fmt == 16:
        return np.frombuffer(raw[: len(raw) - len(raw) % 2], dtype="<i2").astype(np.int64)
    raise WfdbError(f"{where}: signal format {fmt} is not supported (212 and 16 are)")


def _read_header(base: Path) -> Header:
    header_path = base.with_name(base.name + ".hea")
    try:
        if header_path.stat().st_size > _MAX_HEADER_BYTES:
            raise WfdbError(f"{header_path}: header larger than 1 MiB")
        text = header_path.read_text(encoding="latin-1")
    except OSError as exc:
        raise WfdbError(f"{header_path}: {exc.strerror or exc}") from exc
    parsed = parse_header(text, str(header_path))
    if not parsed[3]:
        raise WfdbError(f"{header_path}: the record has no signals")
    return parsed


def _read_digital(base: Path, nsamp: int, signals: list[SignalSpec]) -> npt.NDArray[np.int64]:
    """Digital samples, one column per signal, from every signal file the header names."""
    groups: dict[str, list[int]] = {}
    for i, spec in enumerate(signals):
        groups.setdefault(spec.file_name, []).append(i)
    columns: dict[int, npt.NDArray[np.int64]] = {}
    for file_name, indices in groups.items():
        spec = signals[indices[0]]
        data_path = base.with_name(file_name)
        try:
            raw = data_path.read_bytes()[spec.byte_offset :]
        except OSError as exc:
            raise WfdbError(f"{data_path}: {exc.strerror or exc}") from exc
        values = _decode(spec.fmt, raw, str(data_path))
        frames = len(values) // len(indices)
        if nsamp >= 0:
            if frames < nsamp:
                raise WfdbError(f"{data_path}: {frames} samples per signal, header says {nsamp}")
            frames = nsamp
        matrix = values[: frames * len(indices)].reshape(frames, len(indices))
        for column, i in enumerate(indices):
            columns[i] = matrix[:, column]
    length = min(len(c) for c in columns.values())
    return np.stack([columns[i][:length] for i in range(len(signals))], axis=1)


def _verify_checksums(
    base: Path, digital: npt.NDArray[np.int64], signals: list[SignalSpec], warnings: list[str]
) -> None:
    for i, spec in enumerate(signals):
        if spec.checksum is None:
            continue
        got, want = int(digital[:, i].sum()) % 65536, spec.checksum % 65536
        if got != want and want == 0:
            # The CinC 2017 headers write 0 for every checksum (and initial values
            # that do not match their data): placeholders, not damage.
            warnings.append(f"signal {i}: header checksum is 0, a placeholder; not verified")
        elif got != want:
            raise WfdbError(
                f"{base}: checksum of signal {i} ({spec.description or spec.file_name}) "
                f"is {got}, header says {want}: the signal file is damaged or truncated"
            )


def read_record(path: str | Path) -> WfdbRecord:
    """Read ``path`` (without extension): ``path.hea`` and the signal files it names."""
    base = Path(path)
    name, fs, nsamp, signals, warnings = _read_header(base)
    digital = _read_digital(base, nsamp, signals)
    _verify_checksums(base, digital, signals, warnings)
    gains = np.array([s.gain for s in signals])
    baselines = np.array([s.baseline for s in signals])
    physical = (digital - baselines) / gains
    # The lowest code of each format marks an invalid sample (a gap, a lead off).
    invalid = np.array([_INVALID.get(s.fmt, np.iinfo(np.int64).min) for s in signals])
    physical[digital == invalid] = np.nan
    return WfdbRecord(
        name=name,
        fs_hz=fs,
        signals=tuple(signals),
        physical=physical,
        warnings=tuple(warnings),
    )

"""What ``vigil analyze-ecg``, ``analyze-rr`` and ``validate-af`` print (JSON-ready dicts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from ingest.wfdb import read_record
from scoring.af import classify_rhythm
from scoring.ecg import rr_intervals_ms
from scoring.hrv import hrv
from scoring.indices import mental_stress
from vigil.af_validation import evaluate_af


def analyze_ecg(record_path: Path, signal_index: int = 0) -> dict[str, Any]:
    """R peaks, heart rate, rhythm and its evidence for one WFDB record."""
    record = read_record(record_path)
    if not 0 <= signal_index < len(record.signals):
        msg = f"{record_path}: no signal {signal_index} (it has {len(record.signals)})"
        raise ValueError(msg)
    ecg = record.signal(signal_index)
    result = classify_rhythm(ecg, record.fs_hz)
    return {
        "record": record.name,
        "signal": record.signals[signal_index].description or str(signal_index),
        "fs_hz": record.fs_hz,
        "seconds": round(len(ecg) / record.fs_hz, 3),
        "warnings": list(record.warnings),
        "r_peaks": result.r_peaks,
        "heart_rate_bpm": result.summary.mean_heart_rate_bpm,
        "hrv": msgspec.to_builtins(hrv(rr_intervals_ms(result.r_peaks, record.fs_hz))),
        "rhythm": result.rhythm,
        "af_probability": result.af_probability,
        "quality": msgspec.to_builtins(result.quality),
        "evidence": {
            "cosen": result.cosen,
            "p_wave_consistency": result.p_wave_consistency,
            "dash": msgspec.to_builtins(result.dash),
        },
        "episodes": msgspec.to_builtins(result.summary.episodes),
        "summary": {
            k: v for k, v in msgspec.to_builtins(result.summary).items() if k != "episodes"
        },
    }


def read_rr_file(path: Path) -> npt.NDArray[np.float64]:
    """RR intervals in ms: a ``.npy`` array, or text with one interval per line."""
    if path.suffix == ".npy":
        return np.asarray(np.load(path, allow_pickle=False), dtype=np.float64).ravel()
    values = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            values.append(float(text))
        except ValueError:
            msg = f"{path}:{number}: not a number of milliseconds: {text[:40]!r}"
            raise ValueError(msg) from None
    return np.asarray(values, dtype=np.float64)


WINDOW_MS = 5 * 60 * 1000.0


def five_minute_windows(rr: npt.NDArray[np.float64]) -> list[npt.NDArray[np.float64]]:
    """Consecutive 5-minute windows (the last partial one dropped)."""
    ends = np.cumsum(np.nan_to_num(rr))
    index = (ends // WINDOW_MS).astype(np.int64)
    complete = int(ends[-1] // WINDOW_MS) if len(rr) else 0
    return [rr[index == w] for w in range(complete)]


def analyze_rr(path: Path) -> dict[str, Any]:
    """HRV of an RR file, and the mental stress index of its last 5 minutes.

    The stress index compares the last complete 5-minute window with the earlier windows
    of the same file (at least 7 needed). Fatigue and the anxiety/depression screen need
    days of history, which one file does not hold: they are reported as not computed.
    """
    rr = read_rr_file(path)
    metrics = hrv(rr)
    windows = [hrv(w) for w in five_minute_windows(rr)]
    stress = None
    if windows:
        *earlier, last = windows
        stress = mental_stress(
            last.stress_index,
            last.lf_hf,
            {
                "stress_index": [w.stress_index for w in earlier if w.stress_index is not None],
                "lf_hf": [w.lf_hf for w in earlier if w.lf_hf is not None],
            },
        )
    return {
        "file": str(path),
        "intervals": len(rr),
        "dropped_as_implausible": len(rr) - metrics.count,
        "hrv": msgspec.to_builtins(metrics),
        "five_minute_windows": len(windows),
        "indices": {
            "mental_stress": msgspec.to_builtins(stress) if stress else None,
            "physical_fatigue": None,
            "anxiety_depression": None,
            "not_computed_because": "fatigue and anxiety/depression need daily history "
            "(see docs/indices.md); the stress index needs 8 five-minute windows",
        },
    }


def validate_af(directory: Path) -> dict[str, Any]:
    """The AF evaluation of ``vigil.af_validation`` as a dictionary."""
    return dict(msgspec.to_builtins(evaluate_af(directory)))

"""What ``vigil analyze-ecg`` and ``vigil validate-af`` print (JSON-ready dictionaries)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from ingest.wfdb import read_record
from scoring.af import classify_rhythm
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


def validate_af(directory: Path) -> dict[str, Any]:
    """The AF evaluation of ``vigil.af_validation`` as a dictionary."""
    return dict(msgspec.to_builtins(evaluate_af(directory)))

"""Agreement of Vigil's scoring with reference labels and implementations, as figures.

The tests assert tolerances; this prints the exact figures that ``docs/af.md``,
``docs/hrv.md`` and ``docs/sleep.md`` quote, so every one can be reproduced:

    .venv/bin/python -m tests.agreement

Each part needs its reference (``../shared/data/ecg`` and wfdb; pyhrv's sample files and
NeuroKit2; ``VIGIL_REFERENCE_PYTHON`` for pyActigraphy). A part whose reference is
missing prints why instead of a figure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ingest.actigraphy import read_awd
from ingest.wfdb import read_record
from scoring.ecg import detect_r_peaks, match_beats
from scoring.hrv import hrv
from scoring.sleep import WebsterRules, cole_kripke, sadeh, webster_rescore

ECG_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ecg"
PYACTIGRAPHY_RULES = WebsterRules(surrounded=((6, 10), (10, 20)))  # its code's values


def rpeaks_mitdb_100() -> dict[str, Any]:
    """Beat-by-beat match on MIT-BIH 100 (beats N, A, V; 150 ms)."""
    import wfdb

    record = read_record(ECG_DATA / "mitdb" / "100")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a pandas deprecation inside wfdb
        annotations = wfdb.rdann(str(ECG_DATA / "mitdb" / "100"), "atr")
    beats = annotations.sample[np.isin(annotations.symbol, ["N", "A", "V"])]
    peaks = detect_r_peaks(record.signal(0), record.fs_hz)
    m = match_beats(peaks, beats, tolerance=round(0.150 * record.fs_hz))
    index = np.searchsorted(beats, peaks)
    left = beats[(index - 1).clip(0, len(beats) - 1)]
    right = beats[index.clip(0, len(beats) - 1)]
    nearest = np.minimum(np.abs(peaks - left), np.abs(right - peaks))  # to the closest beat
    return {
        "reference_beats": len(beats),
        "true_positives": m.true_positives,
        "false_positives": m.false_positives,
        "false_negatives": m.false_negatives,
        "sensitivity": m.sensitivity,
        "ppv": m.ppv,
        "median_offset_samples": float(np.median(nearest)),
    }


def pyhrv_file(name: str) -> Path:
    """A sample RR file shipped in the pyhrv wheel (located without importing pyhrv)."""
    spec = importlib.util.find_spec("pyhrv")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("pyhrv is not installed: pip install --no-deps pyhrv")
    return Path(spec.origin).parent / "files" / name


def hrv_against_neurokit2(name: str) -> dict[str, dict[str, float]]:
    """Vigil's HRV and NeuroKit2's on one real series, with the difference in percent."""
    import neurokit2 as nk
    from neurokit2.hrv.hrv_nonlinear import _hrv_nonlinear_poincare

    rr = np.asarray(np.load(pyhrv_file(name)), dtype=np.float64)
    ours = hrv(rr)
    peaks = nk.intervals_to_peaks(rr, sampling_rate=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NeuroKit2's own warnings
        time = nk.hrv_time(peaks, sampling_rate=1000).iloc[0]
        freq = nk.hrv_frequency(peaks, sampling_rate=1000, normalize=False).iloc[0]
        poincare = _hrv_nonlinear_poincare(rr, out={})
        sampen, _ = nk.entropy_sample(rr, dimension=2, tolerance=0.2 * np.std(rr, ddof=1))
    theirs = {
        "mean_nn_ms": time["HRV_MeanNN"],
        "sdnn_ms": time["HRV_SDNN"],
        "rmssd_ms": time["HRV_RMSSD"],
        "pnn50_pct": time["HRV_pNN50"],
        "sd1_ms": poincare["SD1"],
        "sd2_ms": poincare["SD2"],
        "sample_entropy": sampen,
        "lf_ms2": freq["HRV_LF"],
        "hf_ms2": freq["HRV_HF"],
        "lf_hf": freq["HRV_LFHF"],
    }
    return {
        field: {
            "vigil": float(getattr(ours, field)),
            "neurokit2": float(value),
            "difference_pct": round(100 * (getattr(ours, field) - value) / value, 2),
        }
        for field, value in theirs.items()
    }


def pyactigraphy_reference() -> dict[str, Any]:
    """pyActigraphy's scores of its own example, run in its env (``.ci/reference-env``)."""
    python = os.environ.get("VIGIL_REFERENCE_PYTHON", "")
    if not python or not Path(python).exists():
        raise FileNotFoundError("VIGIL_REFERENCE_PYTHON unset: run `bash .ci/reference-env`")
    script = Path(__file__).parent / "scoring" / "pyactigraphy_reference.py"
    done = subprocess.run([python, str(script)], capture_output=True, check=True, timeout=300)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def sleep_against_pyactigraphy(reference: dict[str, Any]) -> dict[str, Any]:
    """Epoch-for-epoch agreement on ``example_01.AWD``."""
    counts = read_awd(reference["path"]).counts
    ck = cole_kripke(counts)
    theirs_ck = np.asarray(reference["ck"], dtype=float)
    both = ~np.isnan(ck)
    both[:4] = both[-4:] = False  # pyActigraphy does not score its first and last 4 minutes
    rescored = webster_rescore(np.where(np.isnan(ck), 0.0, ck), PYACTIGRAPHY_RULES)
    theirs_rescored = np.asarray(reference["ck_rescored"], dtype=float)
    theirs_sadeh = np.asarray(reference["sadeh"], dtype=float)
    compat = sadeh(counts, convention="pyactigraphy")
    scored = ~np.isnan(compat)
    paper = sadeh(counts)
    return {
        "epochs": len(counts),
        "counts_identical": bool(np.array_equal(counts, reference["counts"])),
        "cole_kripke_compared": int(both.sum()),
        "cole_kripke_equal": int((ck[both] == theirs_ck[both]).sum()),
        "webster_equal": int((rescored == theirs_rescored).sum()),
        "sadeh_compared": int(scored.sum()),
        "sadeh_pyactigraphy_reading_equal": int((compat[scored] == theirs_sadeh[scored]).sum()),
        "sadeh_paper_reading_equal_pct": round(
            100 * float(np.mean(paper[scored] == theirs_sadeh[scored])), 1
        ),
    }


def main() -> None:
    """Print every part as one JSON object (a missing reference prints its reason)."""
    report: dict[str, Any] = {}

    def sleep() -> dict[str, Any]:
        return sleep_against_pyactigraphy(pyactigraphy_reference())

    parts: dict[str, Callable[[], object]] = {
        "rpeaks_mitdb_100": rpeaks_mitdb_100,
        "hrv_short": partial(hrv_against_neurokit2, "SampleNNISeriesShort.npy"),
        "hrv_long": partial(hrv_against_neurokit2, "SampleNNISeriesLong.npy"),
        "sleep_example_01": sleep,
    }
    for name, part in parts.items():
        try:
            report[name] = part()
        except (FileNotFoundError, ImportError, subprocess.CalledProcessError) as exc:
            report[name] = {"not_measured": str(exc)}
    print(json.dumps(report, indent=2))  # noqa: T201 - a report command


if __name__ == "__main__":
    main()

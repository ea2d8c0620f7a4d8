"""Evaluate the AF detectors on a labelled set of single-lead records (CinC 2017 layout).

``REFERENCE.csv`` holds ``record,label`` with N (normal), A (AF), O (other rhythm) and
~ (too noisy). AF vs non-AF is scored on the N, A and O records; a record the shipped
classifier calls ``unreadable`` counts as "not AF" there. The ~ records are scored
apart: each should come out ``unreadable``. Every detector runs in the same pass:
the plain Dash 2009 rule on the whole record (no quality gate, as published), COSEn
alone, and the shipped decision.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import msgspec
import numpy as np

from ingest.wfdb import read_record
from scoring.af import COSEN_THRESHOLD, P_WAVE_ABSENT_BELOW, classify_rhythm


class DetectorScore(msgspec.Struct, frozen=True, kw_only=True):
    """AF vs non-AF over the N, A and O records."""

    sensitivity: float
    specificity: float
    f1: float
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int


def score(truth: list[bool], predicted: list[bool]) -> DetectorScore:
    """Sensitivity, specificity and F1 of ``predicted`` against ``truth``."""
    t, p = np.asarray(truth, dtype=bool), np.asarray(predicted, dtype=bool)
    tp, fp = int(np.sum(t & p)), int(np.sum(~t & p))
    fn, tn = int(np.sum(t & ~p)), int(np.sum(~t & ~p))
    return DetectorScore(
        sensitivity=tp / (tp + fn) if tp + fn else 0.0,
        specificity=tn / (tn + fp) if tn + fp else 0.0,
        f1=2 * tp / (2 * tp + fp + fn) if tp else 0.0,
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        true_negatives=tn,
    )


class AfEvaluation(msgspec.Struct, frozen=True, kw_only=True):
    """Every detector's score, the noisy records' fate, and the shipped confusion table."""

    records: int
    labels: dict[str, int]
    dash_plain: DetectorScore
    cosen_plain: DetectorScore
    shipped: DetectorScore
    noisy_unreadable: int
    noisy_called_af: int
    clean_unreadable: int
    p_wave_threshold_sweep: dict[str, float]  # shipped F1 with the P-wave threshold moved
    confusion: dict[str, dict[str, int]]  # reference label -> shipped rhythm -> count


def evaluate_af(directory: Path) -> AfEvaluation:
    """Run every detector on every record listed in ``directory/REFERENCE.csv``."""
    with (directory / "REFERENCE.csv").open(newline="", encoding="utf-8") as f:
        reference = [(row[0], row[1]) for row in csv.reader(f) if row]
    truth: list[bool] = []
    dash_votes: list[bool] = []
    cosen_votes: list[bool] = []
    shipped: list[bool] = []
    features: list[tuple[float | None, float | None, bool]] = []
    confusion: dict[str, Counter[str]] = {}
    noisy_unreadable = noisy_af = clean_unreadable = 0
    for name, label in reference:
        record = read_record(directory / name)
        result = classify_rhythm(record.signal(0), record.fs_hz)
        confusion.setdefault(label, Counter())[result.rhythm] += 1
        if label == "~":
            noisy_unreadable += result.rhythm == "unreadable"
            noisy_af += result.rhythm == "af"
            continue
        clean_unreadable += result.rhythm == "unreadable"
        truth.append(label == "A")
        dash_votes.append(result.dash is not None and result.dash.af)
        cosen_votes.append(result.cosen is not None and result.cosen > COSEN_THRESHOLD)
        shipped.append(result.rhythm == "af")
        features.append((result.cosen, result.p_wave_consistency, result.rhythm != "unreadable"))
    sweep = {}
    for threshold in (0.3, 0.35, 0.4, 0.45, 0.5, 0.55):
        votes = [
            readable and c is not None and c > COSEN_THRESHOLD and pw is not None and pw < threshold
            for c, pw, readable in features
        ]
        sweep[f"{threshold:.2f}"] = round(score(truth, votes).f1, 3)
    assert f"{P_WAVE_ABSENT_BELOW:.2f}" in sweep  # noqa: S101 - the shipped value is swept
    return AfEvaluation(
        records=len(reference),
        labels=dict(Counter(label for _, label in reference)),
        dash_plain=score(truth, dash_votes),
        cosen_plain=score(truth, cosen_votes),
        shipped=score(truth, shipped),
        noisy_unreadable=noisy_unreadable,
        noisy_called_af=noisy_af,
        clean_unreadable=clean_unreadable,
        p_wave_threshold_sweep=sweep,
        confusion={k: dict(v) for k, v in confusion.items()},
    )

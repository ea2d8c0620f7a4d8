"""Expert matching: rank a clinic's doctors for a consultation request, with reasons.

The seeds ask for assignment by specialty, title, experience, response time and current
load, and a priority (green) channel for red cases. Vigil ranks by a weighted score out
of 100 (a green case reweighs it, below) whose parts are shown with each match, so a
reviewer can see why:

========================= ====== ==========================================================
part                      points how
========================= ====== ==========================================================
specialty                 30     the request names a specialty the doctor has (0 if it
                                 names one they lack; 15 for all when it names none)
title                     20     chief 20, associate chief 15, attending 10, resident 5
experience                15     15 x years / 20, capped at 20 years
response time             15     15 x (1 - median minutes / 120), none at 2 hours or more
load                      20     20 x (1 - open cases / their maximum)
========================= ====== ==========================================================

A doctor at their maximum load is not offered. A green (red) case doubles the weight of
response time and load and halves that of title and experience: the first free, fast
doctor matters more than the most senior one. When the request names a specialty nobody
has, every doctor is ranked without it, and the result says so. These weights are a
stated policy, not a validated model; a reviewer approves the match (or another).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from schemas.clinic import Doctor, Title
from schemas.consultation import Consultation

TITLE_POINTS: dict[Title, float] = {
    "chief": 20.0,
    "associate_chief": 15.0,
    "attending": 10.0,
    "resident": 5.0,
}


class Match(msgspec.Struct, frozen=True):
    """A doctor offered for a request: the score and what made it."""

    doctor: str
    name: str
    score: float
    parts: dict[str, float]
    note: str = ""


def _parts(doctor: Doctor, consult: Consultation, load: int) -> dict[str, float]:
    wanted = consult.specialty
    if wanted is None:
        specialty = 15.0
    else:
        specialty = 30.0 if wanted.lower() in {s.lower() for s in doctor.specialties} else 0.0
    response = max(0.0, 1.0 - doctor.median_response_min / 120.0)
    return {
        "specialty": specialty,
        "title": TITLE_POINTS[doctor.title],
        "experience": 15.0 * min(doctor.years_experience, 20) / 20.0,
        "response": 15.0 * response,
        "load": 20.0 * (1.0 - load / doctor.max_load) if doctor.max_load > 0 else 0.0,
    }


def rank(doctors: Sequence[Doctor], consult: Consultation, loads: Mapping[str, int]) -> list[Match]:
    """The clinic's doctors who can take ``consult``, best first (ties by user)."""
    free = [d for d in doctors if loads.get(d.sub, 0) < d.max_load]
    note = ""
    if consult.specialty is not None:
        wanted = consult.specialty.lower()
        if not any(wanted in {s.lower() for s in d.specialties} for d in free):
            note = f"nobody free has {consult.specialty}: ranked without it"
            consult = msgspec.structs.replace(consult, specialty=None)
    weights = {"specialty": 1.0, "title": 1.0, "experience": 1.0, "response": 1.0, "load": 1.0}
    if consult.priority == "green":
        weights |= {"title": 0.5, "experience": 0.5, "response": 2.0, "load": 2.0}
    matches = []
    for d in free:
        parts = {
            k: round(v * weights[k], 2) for k, v in _parts(d, consult, loads.get(d.sub, 0)).items()
        }
        matches.append(Match(d.sub, d.name, round(sum(parts.values()), 2), parts, note))
    return sorted(matches, key=lambda m: (-m.score, m.doctor))

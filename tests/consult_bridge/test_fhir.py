"""FHIR Bundles (consult_bridge/fhir.py) validated with fhir.resources (R4B models).

Every resource the builder makes parses as its FHIR type with no error; the codes and
units are those the FHIR vital-signs profile names; references resolve inside the bundle.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from consult_bridge.fhir import BundleBuilder
from consult_bridge.workflow import Act, Actor, apply, raise_request
from schemas import Alert, AlertLevel
from schemas.health_records import HealthRecord

bundle_model = pytest.importorskip(
    "fhir.resources.R4B.bundle",
    reason="fhir.resources is a test dependency (pip install -e .[test])",
)

T0 = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


def records() -> list[HealthRecord]:
    at = T0 - dt.timedelta(minutes=5)
    return [
        HealthRecord(
            measured_at=at,
            type="heart_rate",
            values={"heart_rate_bpm": 142.0, "rr_ms": [420.0], "sensor_contact": True},
        ),
        HealthRecord(measured_at=at, type="spo2", values={"spo2_pct": 89.0}),
        HealthRecord(measured_at=at, type="respiration", values={"respiration_rate_per_min": 26.0}),
        HealthRecord(
            measured_at=at, type="temperature", values={"temp_c": 38.4, "site": "estimated_core"}
        ),
        HealthRecord(
            measured_at=at,
            type="blood_pressure",
            values={"systolic_mmhg": 96.0, "diastolic_mmhg": 60.0},
        ),
        HealthRecord(measured_at=at, type="steps", values={"steps": 0, "interval_s": 60.0}),
        HealthRecord(
            measured_at=at,
            type="gps",
            values={"lat_deg": 51.5, "lon_deg": -0.12, "accuracy_m": 9.0},
        ),
        HealthRecord(
            measured_at=at,
            type="ecg",
            values={"sampling_rate_hz": 250.0, "lead": "I", "samples_uv": [0, 120, -40]},
        ),
        HealthRecord(measured_at=at, type="mental_stress", values={"value": 70.0, "inputs": {}}),
    ]


def built() -> dict[str, Any]:
    alert = Alert(
        alert_id="wb-0001:1:7:news2:red",
        device_id="wb-0001",
        level=AlertLevel.RED,
        raised_at=T0,
        source="news2",
        summary="NEWS2 9: pulse 142, SpO2 89 %",
    )
    doctor = Actor(sub="dr-li", role="clinician")
    reviewer = Actor(sub="rev-a", role="reviewer")
    consult = raise_request(
        device_id="wb-0001",
        tenant="clinic-a",
        reason=alert.summary,
        by=Actor(sub="vigil", role="system"),
        at=T0,
        red=True,
        alert_id=alert.alert_id,
    ).consultation
    for n, step in enumerate(
        [
            Act(action="review", by=reviewer, at=T0),
            Act(
                action="approve",
                by=reviewer,
                at=T0,
                doctor="dr-li",
                planned_at=T0 + dt.timedelta(minutes=20),
            ),
            Act(action="start", by=doctor, at=T0 + dt.timedelta(minutes=21), mode="live"),
            Act(
                action="end",
                by=doctor,
                at=T0 + dt.timedelta(minutes=40),
                diagnosis="sepsis suspected",
                medical_record="sent to ED",
            ),
        ]
    ):
        consult = apply(consult, step).consultation
        assert consult.version == n + 1
    builder = BundleBuilder("wb-0001", T0 + dt.timedelta(hours=1))
    builder.readings(records())
    flag = builder.flag(alert)
    builder.timeline(
        [(T0, "sms", "Anna told"), (T0 + dt.timedelta(minutes=1), "acknowledged", "Anna")], flag
    )
    builder.consultation(consult, flag)
    return builder.render()


def test_the_bundle_validates_as_fhir_and_every_reference_resolves() -> None:
    raw = built()
    bundle = bundle_model.Bundle.model_validate(raw)
    kinds = [e.resource.__resource_type__ for e in bundle.entry]
    assert kinds.count("Observation") == 8  # the stress index is not a FHIR observation here
    assert {"Patient", "Flag", "Communication", "ServiceRequest", "Encounter"} <= set(kinds)
    urls = {e["fullUrl"] for e in raw["entry"]}

    def references(node: object) -> list[str]:
        if isinstance(node, dict):
            found = [node["reference"]] if isinstance(node.get("reference"), str) else []
            return found + [r for v in node.values() for r in references(v)]
        if isinstance(node, list):
            return [r for v in node for r in references(v)]
        return []

    assert set(references(raw["entry"])) <= urls


def test_vital_signs_carry_their_loinc_codes_and_ucum_units() -> None:
    raw = built()
    observations = [
        e["resource"] for e in raw["entry"] if e["resource"]["resourceType"] == "Observation"
    ]
    coded = {o["code"]["coding"][0]["code"]: o for o in observations}
    assert coded["8867-4"]["valueQuantity"] == {
        "value": 142.0,
        "unit": "/min",
        "system": "http://unitsofmeasure.org",
        "code": "/min",
    }
    assert coded["59408-5"]["valueQuantity"]["code"] == "%"
    assert coded["8310-5"]["valueQuantity"]["code"] == "Cel"
    assert coded["9279-1"]["valueQuantity"]["value"] == 26.0
    assert [c["code"]["coding"][0]["code"] for c in coded["85354-9"]["component"]] == [
        "8480-6",
        "8462-4",
    ]
    assert coded["85354-9"]["component"][0]["valueQuantity"]["code"] == "mm[Hg]"
    ecg = coded["11524-6"]["valueSampledData"]
    assert (ecg["period"], ecg["data"], ecg["origin"]["code"]) == (4.0, "0 120 -40", "uV")
    assert coded["8867-4"]["category"][0]["coding"][0]["code"] == "vital-signs"
    (request,) = [
        e["resource"] for e in raw["entry"] if e["resource"]["resourceType"] == "ServiceRequest"
    ]
    assert (request["priority"], request["status"]) == ("stat", "completed")
    (encounter,) = [
        e["resource"] for e in raw["entry"] if e["resource"]["resourceType"] == "Encounter"
    ]
    assert encounter["period"] == {"start": "2026-11-29T12:21:00Z", "end": "2026-11-29T12:40:00Z"}
    (patient,) = [e["resource"] for e in raw["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert patient["identifier"] == [{"system": "urn:vigil:device", "value": "wb-0001"}]
    assert "name" not in patient

"""FHIR R4 Bundles of a wearer's data: a consultation's triggering episode, and exports.

Resources (HL7 FHIR R4, https://hl7.org/fhir/R4/):

* ``Patient``: the wearer, identified by the band (``urn:vigil:device``); no name or
  other identity leaves Vigil in a bundle;
* ``Observation``: each reading, coded with LOINC and valued in UCUM units
  (vital-signs profile codes, https://hl7.org/fhir/R4/observation-vitalsigns.html):
  heart rate 8867-4, SpO2 by pulse oximetry 59408-5, respiratory rate 9279-1, body
  temperature 8310-5, blood pressure panel 85354-9 with systolic 8480-6 and diastolic
  8462-4 components, steps 55423-8; an ECG strip is LOINC 11524-6 (EKG study) with its
  samples as ``SampledData`` in microvolts; a GPS fix (no LOINC code) carries Vigil's
  own code with latitude, longitude and accuracy components;
* ``Flag``: each alert (its level, cause and summary);
* ``Communication``: each step of the alert's ladder (who was told what, when);
* ``ServiceRequest``: a consultation request (priority ``stat`` for the green channel),
  and ``Encounter`` (class ``VR``, virtual) for its session once started.

The bundle is a ``collection`` whose entries refer to each other by ``urn:uuid``. Pure:
the API hands in what it read and was allowed to read. Validated in the tests with
``fhir.resources`` (its R4B models, the nearest to R4 it ships).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from schemas import Alert
from schemas.consultation import Consultation
from schemas.health_records import HealthRecord

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
VIGIL_CODES = "urn:vigil:codes"
DEVICE_SYSTEM = "urn:vigil:device"
_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

# reading type -> (LOINC code, display, value field, UCUM unit)
_SIMPLE: dict[str, tuple[str, str, str, str]] = {
    "heart_rate": ("8867-4", "Heart rate", "heart_rate_bpm", "/min"),
    "spo2": ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "spo2_pct", "%"),
    "respiration": ("9279-1", "Respiratory rate", "respiration_rate_per_min", "/min"),
    "temperature": ("8310-5", "Body temperature", "temp_c", "Cel"),
    "steps": ("55423-8", "Number of steps in unspecified time Pedometer", "steps", "{steps}"),
}


def _when(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _code(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _component(system: str, code: str, display: str, value: float, unit: str) -> dict[str, Any]:
    return {"code": _code(system, code, display), "valueQuantity": _quantity(value, unit)}


class BundleBuilder:
    """Collects resources about one wearer and renders the Bundle."""

    def __init__(self, device_id: str, at: dt.datetime) -> None:
        self.at = at
        self.entries: list[dict[str, Any]] = []
        self.patient = self._add(
            {
                "resourceType": "Patient",
                "identifier": [{"system": DEVICE_SYSTEM, "value": device_id}],
                "active": True,
            }
        )

    def _add(self, resource: dict[str, Any]) -> str:
        ref = f"urn:uuid:{uuid.uuid4()}"
        self.entries.append({"fullUrl": ref, "resource": resource})
        return ref

    def _observation(
        self, record: HealthRecord, code: dict[str, Any], vital: bool
    ) -> dict[str, Any]:
        found: dict[str, Any] = {
            "resourceType": "Observation",
            "status": "final",
            "code": code,
            "subject": {"reference": self.patient},
            "effectiveDateTime": _when(record.measured_at),
        }
        if vital:
            found["category"] = [_code(_CATEGORY, "vital-signs", "Vital Signs")]
        return found

    def readings(self, records: Sequence[HealthRecord]) -> None:
        """Observations for readings and ECG strips (other types are left out)."""
        for record in records:
            resource = self._reading(record)
            if resource is not None:
                self._add(resource)

    def _reading(self, record: HealthRecord) -> dict[str, Any] | None:
        values = record.values
        if record.type in _SIMPLE:
            code, display, field, unit = _SIMPLE[record.type]
            found = self._observation(record, _code(LOINC, code, display), record.type != "steps")
            found["valueQuantity"] = _quantity(values[field], unit)
            return found
        if record.type == "blood_pressure":
            found = self._observation(record, _code(LOINC, "85354-9", "Blood pressure panel"), True)
            found["component"] = [
                _component(
                    LOINC, "8480-6", "Systolic blood pressure", values["systolic_mmhg"], "mm[Hg]"
                ),
                _component(
                    LOINC, "8462-4", "Diastolic blood pressure", values["diastolic_mmhg"], "mm[Hg]"
                ),
            ]
            return found
        if record.type == "ecg":
            found = self._observation(record, _code(LOINC, "11524-6", "EKG study"), False)
            samples = values["samples_uv"]
            found["valueSampledData"] = {
                "origin": _quantity(0, "uV"),
                "period": 1000.0 / values["sampling_rate_hz"],  # ms between samples
                "dimensions": 1,
                "data": " ".join(str(v) for v in samples),
            }
            found["note"] = [{"text": f"lead {values['lead']}, {len(samples)} samples"}]
            return found
        if record.type == "gps":
            found = self._observation(record, _code(VIGIL_CODES, "gps-fix", "Position fix"), False)
            found["component"] = [
                _component(VIGIL_CODES, "latitude", "Latitude", values["lat_deg"], "deg"),
                _component(VIGIL_CODES, "longitude", "Longitude", values["lon_deg"], "deg"),
                _component(
                    VIGIL_CODES, "accuracy", "Horizontal accuracy", values["accuracy_m"], "m"
                ),
            ]
            return found
        return None

    def flag(self, alert: Alert) -> str:
        """A Flag for an alert; its reference."""
        return self._add(
            {
                "resourceType": "Flag",
                "status": "active" if alert.change != "retracted" else "inactive",
                "category": [
                    _code(
                        "http://terminology.hl7.org/CodeSystem/flag-category",
                        "clinical",
                        "Clinical",
                    )
                ],
                "code": {
                    "coding": [
                        {
                            "system": VIGIL_CODES,
                            "code": f"{alert.source}:{alert.level.label}",
                            "display": f"{alert.level.label} alert ({alert.source})",
                        }
                    ],
                    "text": alert.summary,
                },
                "subject": {"reference": self.patient},
                "period": {"start": _when(alert.raised_at)},
            }
        )

    def timeline(self, steps: Sequence[tuple[dt.datetime, str, str]], about: str | None) -> None:
        """A Communication per ladder step (``about``: the Flag's reference)."""
        for at, what, detail in steps:
            resource: dict[str, Any] = {
                "resourceType": "Communication",
                "status": "completed",
                "subject": {"reference": self.patient},
                "sent": _when(at),
                "payload": [{"contentString": f"{what}: {detail}" if detail else what}],
            }
            if about is not None:
                resource["about"] = [{"reference": about}]
            self._add(resource)

    def consultation(self, c: Consultation, reason_ref: str | None = None) -> None:
        """A ServiceRequest for the request, and an Encounter once its session started."""
        status = {"ended": "completed", "cancelled": "revoked"}.get(c.state, "active")
        request: dict[str, Any] = {
            "resourceType": "ServiceRequest",
            "identifier": [{"system": "urn:vigil:consultation", "value": c.consult_id}],
            "status": status,
            "intent": "order",
            "priority": "stat" if c.priority == "green" else "routine",
            "code": {"text": "Remote consultation"},
            "subject": {"reference": self.patient},
            "authoredOn": _when(c.created_at),
            "reasonCode": [{"text": c.reason}],
        }
        if c.planned_at is not None:
            request["occurrenceDateTime"] = _when(c.planned_at)
        if c.doctor is not None:
            request["performer"] = [{"display": c.doctor}]
        if reason_ref is not None:
            request["reasonReference"] = [{"reference": reason_ref}]
        request_ref = self._add(request)
        started = [s.at for s in c.history if s.action == "start"]
        if not started:
            return
        period: dict[str, str] = {"start": _when(started[0])}
        ended = [s.at for s in c.history if s.action == "end"]
        if ended:
            period["end"] = _when(ended[-1])
        encounter: dict[str, Any] = {
            "resourceType": "Encounter",
            "status": "finished" if ended else "in-progress",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "VR",
                "display": "virtual",
            },
            "subject": {"reference": self.patient},
            "basedOn": [{"reference": request_ref}],
            "period": period,
        }
        if c.report is not None:
            encounter["reasonCode"] = [{"text": c.report.diagnosis}]
        self._add(encounter)

    def render(self) -> dict[str, Any]:
        """The Bundle."""
        return {
            "resourceType": "Bundle",
            "type": "collection",
            "timestamp": _when(self.at),
            "entry": self.entries,
        }

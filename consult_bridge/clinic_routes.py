"""A clinic's doctors, expert matching for a request, and appointments.

The clinic's admin registers its doctors (specialties, title, experience, usual response
time, how many open cases they take). Reviewers see the doctors ranked for a request
(``consult_bridge/matching.py``) and approve one. Doctors (or the admin) open appointment
slots; a wearer enrolled in the clinic books a free one, and either side can cancel it;
the other side is told. A slot is booked once: of two wearers at the same moment, one
gets it and the other a 409.
"""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from consult_bridge.auth import Principal
from consult_bridge.cases import consultation_for
from consult_bridge.deps import Caller, Context, Deps, unprocessable
from consult_bridge.matching import rank
from schemas.clinic import Doctor, Slot, Title

routes = APIRouter(prefix="/v1", tags=["clinic"])
MAX_SLOT = dt.timedelta(hours=4)


class DoctorIn(BaseModel):
    name: str = Field(default="", max_length=200)
    specialties: list[str] = Field(default_factory=list, max_length=20)
    title: Title = "attending"
    years_experience: int = Field(default=0, ge=0, le=70)
    median_response_min: float = Field(default=60.0, ge=0, le=7 * 24 * 60)
    max_load: int = Field(default=5, ge=0, le=100)
    phone: str | None = Field(
        default=None, pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164: notices by SMS too"
    )


class DoctorView(DoctorIn):
    sub: str
    tenant: str


def _doctor_view(d: Doctor) -> DoctorView:
    return DoctorView(
        sub=d.sub,
        tenant=d.tenant,
        name=d.name,
        specialties=list(d.specialties),
        title=d.title,
        years_experience=d.years_experience,
        median_response_min=d.median_response_min,
        max_load=d.max_load,
        phone=d.phone,
    )


def _clinic_of_caller(deps: Deps, who: Principal) -> str:
    """The caller's clinic: a staff member's tenant, a wearer's enrolment; 403 otherwise."""
    if who.role in ("clinician", "reviewer", "admin") and who.tenant:
        return who.tenant
    if who.role == "wearer" and who.device:
        tenant = deps.access.clinic_of(who.device)
        if tenant is not None:
            return tenant
    raise HTTPException(status.HTTP_403_FORBIDDEN, "for a clinic's staff and its wearers")


@routes.put("/doctors/{sub}", response_model=DoctorView)
def register_doctor(sub: str, body: DoctorIn, who: Caller, deps: Context) -> DoctorView:
    """The clinic's admin registers (or updates) one of its doctors."""
    if who.role != "admin" or who.tenant is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only a clinic's admin registers doctors")
    doctor = Doctor(
        sub=sub,
        tenant=who.tenant,
        name=body.name,
        specialties=tuple(body.specialties),
        title=body.title,
        years_experience=body.years_experience,
        median_response_min=body.median_response_min,
        max_load=body.max_load,
        phone=body.phone,
    )
    if not deps.clinic.put_doctor(doctor):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such doctor")  # another clinic's
    return _doctor_view(doctor)


@routes.get("/doctors", response_model=list[DoctorView])
def list_doctors(who: Caller, deps: Context) -> list[DoctorView]:
    """The caller's clinic's doctors (its staff, and the wearers enrolled in it)."""
    return [_doctor_view(d) for d in deps.clinic.doctors(_clinic_of_caller(deps, who))]


class MatchView(BaseModel):
    doctor: str
    name: str
    score: float
    parts: dict[str, float]
    note: str


@routes.get("/consultations/{consult_id}/matches", response_model=list[MatchView])
def matches(consult_id: str, who: Caller, deps: Context) -> list[MatchView]:
    """The clinic's doctors who can take the request, best first, each score explained."""
    c = consultation_for(deps, who, consult_id, "matches")
    if who.role not in ("clinician", "reviewer"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "for the clinic's staff")
    found = rank(deps.clinic.doctors(c.tenant), c, deps.consults.loads(c.tenant))
    return [
        MatchView(doctor=m.doctor, name=m.name, score=m.score, parts=m.parts, note=m.note)
        for m in found
    ]


class SlotIn(BaseModel):
    starts_at: dt.datetime
    ends_at: dt.datetime


class SlotView(BaseModel):
    slot_id: str
    doctor: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    booked: bool
    booked_by: str | None = Field(description="the wearer's band: shown to the clinic only")
    consult_id: str | None


def _slot_view(slot: Slot, who: Principal) -> SlotView:
    mine = who.role == "wearer" and slot.booked_by == who.device
    staff = who.role in ("clinician", "reviewer", "admin")
    return SlotView(
        slot_id=slot.slot_id,
        doctor=slot.doctor,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        booked=slot.booked_by is not None,
        booked_by=slot.booked_by if staff or mine else None,
        consult_id=slot.consult_id if staff or mine else None,
    )


def _doctor_in_clinic(deps: Deps, sub: str, tenant: str) -> Doctor:
    doctor = deps.clinic.doctor(sub)
    if doctor is None or doctor.tenant != tenant:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such doctor")
    return doctor


@routes.post("/doctors/{sub}/slots", status_code=status.HTTP_201_CREATED, response_model=SlotView)
def open_slot(sub: str, body: SlotIn, who: Caller, deps: Context) -> SlotView:
    """The doctor (or the clinic's admin) opens a slot; 409 if it overlaps another."""
    tenant = _clinic_of_caller(deps, who)
    doctor = _doctor_in_clinic(deps, sub, tenant)
    if not (who.role == "admin" or (who.role == "clinician" and who.sub == doctor.sub)):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the doctor or the admin opens slots")
    if body.starts_at.tzinfo is None or body.ends_at.tzinfo is None:
        raise unprocessable("times need a time zone", "body")
    if not body.starts_at < body.ends_at <= body.starts_at + MAX_SLOT:
        raise unprocessable("a slot ends after it starts, within 4 hours", "body")
    if body.starts_at <= deps.clock():
        raise unprocessable("a slot starts in the future", "body", "starts_at")
    slot = Slot(
        slot_id=uuid.uuid4().hex,
        tenant=tenant,
        doctor=doctor.sub,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
    )
    if not deps.clinic.add_slot(slot):
        raise HTTPException(status.HTTP_409_CONFLICT, "it overlaps another of the doctor's slots")
    return _slot_view(slot, who)


@routes.get("/doctors/{sub}/slots", response_model=list[SlotView])
def list_slots(sub: str, who: Caller, deps: Context, free_only: bool = False) -> list[SlotView]:
    """A doctor's slots still to come (its clinic's staff and wearers)."""
    tenant = _clinic_of_caller(deps, who)
    _doctor_in_clinic(deps, sub, tenant)
    found = deps.clinic.slots_of(sub, deps.clock(), free_only=free_only)
    return [_slot_view(s, who) for s in found]


class BookingIn(BaseModel):
    consult_id: str | None = None


def _slot_in_clinic(deps: Deps, who: Principal, slot_id: str) -> Slot:
    tenant = _clinic_of_caller(deps, who)
    slot = deps.clinic.slot(slot_id)
    if slot is None or slot.tenant != tenant:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such slot")
    return slot


@routes.post(
    "/slots/{slot_id}/booking", status_code=status.HTTP_201_CREATED, response_model=SlotView
)
def book(slot_id: str, body: BookingIn, who: Caller, deps: Context) -> SlotView:
    """A wearer books a free slot with a doctor of their clinic (optionally for a request)."""
    if who.role != "wearer" or who.device is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a wearer books")
    slot = _slot_in_clinic(deps, who, slot_id)
    if slot.starts_at <= deps.clock():
        raise HTTPException(status.HTTP_409_CONFLICT, "the slot has started")
    if body.consult_id is not None:
        c = consultation_for(deps, who, body.consult_id, "book")
        if c.device_id != who.device:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such consultation")
    if not deps.clinic.book(slot_id, who.device, body.consult_id, deps.clock()):
        raise HTTPException(status.HTTP_409_CONFLICT, "the slot is taken")
    deps.tell(
        f"user:{slot.doctor}",
        "appointment",
        f"Appointment booked: {slot.starts_at:%Y-%m-%d %H:%M} UTC ({who.device}).",
        about=who.device,
    )
    deps.record(who, who.device, "appointment", "book", slot_id)
    booked = deps.clinic.slot(slot_id)
    assert booked is not None  # noqa: S101 - it was just booked
    return _slot_view(booked, who)


@routes.delete("/slots/{slot_id}/booking", status_code=status.HTTP_204_NO_CONTENT)
def cancel_booking(slot_id: str, who: Caller, deps: Context) -> None:
    """The wearer who booked, the doctor or the admin cancels; the other side is told."""
    slot = _slot_in_clinic(deps, who, slot_id)
    if slot.booked_by is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the slot is not booked")
    by_wearer = who.role == "wearer" and who.device == slot.booked_by
    by_clinic = who.role == "admin" or (who.role == "clinician" and who.sub == slot.doctor)
    if not (by_wearer or by_clinic):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the wearer, the doctor or the admin")
    if not deps.clinic.free(slot_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the slot is not booked")
    when = f"{slot.starts_at:%Y-%m-%d %H:%M} UTC"
    if by_wearer:
        deps.tell(
            f"user:{slot.doctor}",
            "appointment",
            f"Appointment cancelled: {when}.",
            about=slot.booked_by,
        )
    else:
        deps.tell(
            f"device:{slot.booked_by}",
            "appointment",
            f"Your appointment at {when} was cancelled by the clinic.",
            about=slot.booked_by,
        )
    deps.record(who, slot.booked_by, "appointment", "cancel", slot_id)

"""Who may see and act on a wearer's data: the wearer's grants and the clinic's enrolment.

The design's records (ARCHITECTURE.md, "Consultation bridge and records"): the wearer
grants each viewer access per data category, optionally for a time window; clinics are
tenants that never see each other's data. The rules, one function (``may``):

* a wearer sees and acts on everything of their own band;
* a family viewer (or any user the wearer named) only the categories of a grant in
  force, within its window;
* a clinician or reviewer the wearers enrolled in their clinic;
* an admin runs their clinic (enrolment) but reads no health data;
* a clinician who broke the glass on a wearer (an emergency: ``EmergencyAccess``) sees
  all of that wearer's data, whichever clinic, until the opening ends.

Acting on alerts (acknowledging, cancelling, snoozing) needs the ``alerts`` category.
Nothing here reads the clock or a database: the caller passes what it found.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from consult_bridge.auth import Principal
from schemas.access import Category, EmergencyAccess, Grant


def may(
    principal: Principal,
    device_id: str,
    category: Category,
    *,
    clinic: str | None,
    grants: Sequence[Grant],
    now: dt.datetime,
    emergencies: Sequence[EmergencyAccess] = (),
) -> bool:
    """Whether ``principal`` may see (and act on) ``category`` of ``device_id``'s wearer.

    ``clinic``: the clinic the wearer is enrolled in, if any; ``grants``: the wearer's;
    ``emergencies``: break-glass openings on the wearer.
    """
    if principal.role == "wearer":
        return principal.device == device_id
    if principal.role == "family":
        return any(
            g.device_id == device_id
            and g.viewer == principal.sub
            and category in g.categories
            and g.in_force(now)
            for g in grants
        )
    if principal.role == "clinician" and in_emergency(principal, device_id, emergencies, now):
        return True
    if principal.role in ("clinician", "reviewer"):
        return clinic is not None and clinic == principal.tenant
    return False  # an admin runs the clinic, and reads no health data


def in_emergency(
    principal: Principal,
    device_id: str,
    emergencies: Sequence[EmergencyAccess],
    now: dt.datetime,
) -> bool:
    """Whether ``principal`` holds a break-glass opening on the wearer in force ``now``."""
    return any(
        e.device_id == device_id and e.viewer == principal.sub and e.in_force(now)
        for e in emergencies
    )

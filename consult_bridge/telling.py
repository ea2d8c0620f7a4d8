"""Telling someone something: an in-app notice, and an SMS when they have a number.

Shared by the API's routes (``Deps.tell``) and the consultation intake that runs beside
them (``vigil/consult_intake.py``), so both tell people the same way.
"""

from __future__ import annotations

import datetime as dt
import uuid

from consult_bridge.desks import NoticeBox, TextDesk
from schemas.health_records import Notice


def tell(
    notices: NoticeBox,
    texts: TextDesk | None,
    *,
    recipient: str,
    kind: str,
    text: str,
    about: str | None,
    at: dt.datetime,
) -> None:
    """Post the notice; queue it by SMS when ``texts`` knows the recipient's number.

    ``about``: the wearer concerned (a family member's number is the wearer's contact's).
    """
    notices.post(
        Notice(notice_id=uuid.uuid4().hex, recipient=recipient, at=at, kind=kind, text=text)
    )
    if texts is not None:
        phone = texts.phone_of(recipient, about)
        if phone is not None:
            texts.queue(phone, f"Vigil: {text}", at)

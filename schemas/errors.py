"""The one error a decoder raises: the input, not the code, is at fault."""

from __future__ import annotations


class MalformedPayload(ValueError):  # noqa: N818 - named by what the sender did wrong
    """A payload that cannot become a wire model; permanent, so it goes to dead letters.

    ``reason`` is a short, stable category (``too_large``, ``invalid_json``,
    ``invalid_schema``, ``topic_mismatch``, ``unknown_topic``); ``detail`` says what
    exactly failed, without echoing payload values that could be health data.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

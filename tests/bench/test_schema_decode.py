"""The decode benchmark races fair models: both libraries accept and refuse the same bytes."""

from __future__ import annotations

import pytest

from bench.schema_decode import check_equivalent, ecg_payload, invalid_payloads, vitals_payload


@pytest.mark.parametrize("payload", [vitals_payload(), ecg_payload()], ids=["vitals", "ecg"])
def test_mirror_models_accept_and_refuse_what_the_wire_models_do(payload: bytes) -> None:
    assert len(invalid_payloads(payload)) >= 4
    check_equivalent(payload)

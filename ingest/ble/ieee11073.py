"""IEEE 11073-20601 SFLOAT (16-bit) and FLOAT (32-bit) as GATT health services send them.

Source: Bluetooth SIG, GATT Specification Supplement, section 2.2 ("medfloat16" and
"medfloat32"), which adopts IEEE 11073-20601 section F.8; the byte formats are summed up in
``shared/design/CLINICAL.md`` section 5.

* SFLOAT: the top 4 bits are the exponent, the low 12 bits the mantissa, both two's
  complement; the value is ``mantissa * 10 ** exponent``.
* FLOAT: an 8-bit exponent over a 24-bit mantissa, the same way.
* Special values (exponent 0): NaN (mantissa 0x7FF / 0x7FFFFF), NRes "not at this
  resolution" (0x800 / 0x800000), +INFINITY (0x7FE / 0x7FFFFE), -INFINITY (0x802 /
  0x800002) and a reserved value (0x801 / 0x800001). NaN, NRes and the reserved value
  become ``math.nan`` (no measurement); the infinities become ``math.inf`` with their
  sign. A caller keeps only finite values.
"""

from __future__ import annotations

import math

_SFLOAT_SPECIAL = {
    0x07FF: math.nan,
    0x0800: math.nan,
    0x0801: math.nan,
    0x07FE: math.inf,
    0x0802: -math.inf,
}
_FLOAT_SPECIAL = {
    0x007FFFFF: math.nan,
    0x00800000: math.nan,
    0x00800001: math.nan,
    0x007FFFFE: math.inf,
    0x00800002: -math.inf,
}


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def _scaled(mantissa: int, exponent: int) -> float:
    # Dividing by an exact power of ten rounds once: 3760 / 100 is 37.6, where
    # 3760 * 0.01 would carry the error of 0.01 into the result.
    if exponent < 0:
        return mantissa / int(10 ** (-exponent))
    return float(mantissa * int(10**exponent))


def sfloat(raw: int) -> float:
    """The value of a 16-bit SFLOAT (``raw`` as read little-endian)."""
    special = _SFLOAT_SPECIAL.get(raw)
    if special is not None:
        return special
    return _scaled(_signed(raw & 0x0FFF, 12), _signed(raw >> 12, 4))


def float32(raw: int) -> float:
    """The value of a 32-bit FLOAT (``raw`` as read little-endian)."""
    special = _FLOAT_SPECIAL.get(raw)
    if special is not None:
        return special
    return _scaled(_signed(raw & 0x00FFFFFF, 24), _signed(raw >> 24, 8))

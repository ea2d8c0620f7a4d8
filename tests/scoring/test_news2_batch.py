"""Column-wise NEWS2 equals the one-set function, row by row."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.news2 import Vitals, news2
from scoring.news2_batch import MEASURED, RISKS, news2_columns

VITAL_RANGES = {
    "respiration_rate_per_min": (0.0, 60.0),
    "spo2_pct": (70.0, 100.0),
    "systolic_mmhg": (60.0, 260.0),
    "pulse_bpm": (20.0, 200.0),
    "temp_c": (33.0, 42.0),
}
NAMES = dict(zip(VITAL_RANGES, MEASURED, strict=True))


def maybe(low: float, high: float) -> st.SearchStrategy[float | None]:
    # Values on the chart's resolution and off it, so half-up rounding is exercised.
    return st.one_of(
        st.none(),
        st.floats(low, high),
        st.integers(int(low) * 2, int(high) * 2).map(lambda v: v / 2),
    )


row = st.fixed_dictionaries(
    {name: maybe(*bounds) for name, bounds in VITAL_RANGES.items()}
    | {
        "consciousness": st.sampled_from([None, "alert", "voice", "new_confusion"]),
        "on_oxygen": st.sampled_from([None, True, False]),
        "scale": st.sampled_from([1, 2]),
    }
)


@settings(max_examples=50, deadline=None)
@given(st.lists(row, min_size=1, max_size=40))
def test_columns_equal_the_one_set_function(rows: list[dict[str, object]]) -> None:
    def column(name: str) -> np.ndarray:
        return np.array([np.nan if r[name] is None else r[name] for r in rows], dtype=float)

    result = news2_columns(
        respiration_rate_per_min=column("respiration_rate_per_min"),
        spo2_pct=column("spo2_pct"),
        systolic_mmhg=column("systolic_mmhg"),
        pulse_bpm=column("pulse_bpm"),
        temp_c=column("temp_c"),
        alert=[
            np.nan if r["consciousness"] is None else r["consciousness"] == "alert" for r in rows
        ],
        on_oxygen=[np.nan if r["on_oxygen"] is None else float(bool(r["on_oxygen"])) for r in rows],
        spo2_scale2=[r["scale"] == 2 for r in rows],
    )
    for i, r in enumerate(rows):
        one = news2(
            Vitals(
                **{k: r[k] for k in VITAL_RANGES},  # type: ignore[arg-type]
                consciousness=r["consciousness"],  # type: ignore[arg-type]
                on_oxygen=r["on_oxygen"],  # type: ignore[arg-type]
            ),
            spo2_scale=r["scale"],  # type: ignore[arg-type]
        )
        assert int(result.total[i]) == one.total, r
        assert RISKS[int(result.risk[i])] == one.risk
        assert int(result.level[i]) == int(one.level)
        assert bool(result.single_parameter_3[i]) == one.single_parameter_3
        assert tuple(n for n in MEASURED if result.missing[n][i]) == tuple(
            n for n in MEASURED if n in one.missing
        )
        for name, points in one.points.items():
            assert int(result.points[name][i]) == points, name

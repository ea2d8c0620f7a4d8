"""CLI commands that need no servers: analyze-ecg and validate-af on the shared recordings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigil.cli import main


def test_analyze_ecg_json_on_mitdb_100(ecg_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze-ecg", str(ecg_data / "mitdb" / "100"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rhythm"] == "normal"
    assert out["fs_hz"] == 360.0
    assert len(out["r_peaks"]) == 2273
    assert 70 < out["heart_rate_bpm"] < 80
    assert out["quality"]["readable"] is True
    assert 0 <= out["af_probability"] <= 0.1


def test_analyze_ecg_reads_a_cinc2017_record_despite_its_header(
    ecg_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze-ecg", str(ecg_data / "cinc2017-dev" / "A00009"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rhythm"] == "af"  # labelled A in REFERENCE.csv
    assert any("base time/date" in w for w in out["warnings"])


def test_analyze_ecg_missing_record_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze-ecg", str(tmp_path / "nope")]) == 2
    assert "nope.hea" in capsys.readouterr().err


def test_analyze_rr_reads_text_and_reports_hrv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rr.txt"
    path.write_text("# RR in ms\n800\n860\n\n780\n840\n800\n100\n", encoding="utf-8")
    assert main(["analyze-rr", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["intervals"] == 6
    assert out["dropped_as_implausible"] == 1  # 100 ms is not a heartbeat
    assert out["hrv"]["mean_nn_ms"] == pytest.approx(816.0)


def test_analyze_rr_refuses_a_bad_line_with_its_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rr.txt"
    path.write_text("800\nabc\n", encoding="utf-8")
    assert main(["analyze-rr", str(path)]) == 2
    assert "rr.txt:2" in capsys.readouterr().err


def test_score_keeps_line_order_and_reports_bad_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "vitals.jsonl"
    path.write_text(
        '{"respiration_rate_per_min": 27, "spo2_pct": 89, "systolic_mmhg": 88,'
        ' "heart_rate_bpm": 135, "temp_c": 39.4, "consciousness": "alert", "on_oxygen": false}\n'
        '{"spo2_pct": 140}\n'
        '{"heart_rate_bpm": 72, "bogus": 1}\n'
        '{"heart_rate_bpm": 72}\n',
        encoding="utf-8",
    )
    assert main(["score", str(path)]) == 1  # two lines could not be read
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o.get("level") for o in out] == ["red", None, None, "none"]
    assert out[0]["news2"] == 14
    assert out[0]["risk"] == "high"
    assert out[0]["missing"] == []
    assert out[0]["defaulted"] == []
    assert out[1]["line"] == 2
    assert "spo2_pct" in out[1]["error"]
    assert "bogus" in out[2]["error"]
    assert out[3]["missing"] == ["respiration_rate", "spo2", "systolic_bp", "temperature"]
    assert out[3]["partial"] is True


def test_analyze_rr_gives_a_stress_index_on_an_hour_of_real_rr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.scoring.test_hrv import pyhrv_file

    long_file = pyhrv_file("SampleNNISeriesLong.npy")  # MIT-BIH NSR, 60 minutes
    assert main(["analyze-rr", str(long_file), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    stress = out["indices"]["mental_stress"]
    assert out["five_minute_windows"] == 11
    assert 0 <= stress["value"] <= 100
    assert [i["name"] for i in stress["inputs"]] == ["ln_stress_index", "ln_lf_hf"]
    assert out["indices"]["physical_fatigue"] is None

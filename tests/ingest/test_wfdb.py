"""The WFDB reader against the reference library and against real-world header quirks."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ingest.wfdb import WfdbError, parse_header, read_record


@pytest.mark.parametrize("record", ["mitdb/100", "challenge2015/v102s", "challenge2015/a103l"])
def test_samples_equal_the_reference_wfdb_library(ecg_data: Path, record: str) -> None:
    wfdb = pytest.importorskip("wfdb", reason="wfdb is a test dependency (pip install -e .[test])")
    ours = read_record(ecg_data / record)
    theirs = wfdb.rdrecord(str(ecg_data / record))
    assert ours.fs_hz == theirs.fs
    assert ours.physical.shape == theirs.p_signal.shape
    np.testing.assert_array_equal(ours.physical, theirs.p_signal)
    assert ours.warnings == ()


def test_cinc2017_headers_are_read_with_warnings_instead_of_refused(ecg_data: Path) -> None:
    scipy_io = pytest.importorskip("scipy.io")
    record = read_record(ecg_data / "cinc2017-dev" / "A00001")
    assert record.fs_hz == 300
    assert record.physical.shape == (9000, 1)
    assert any("2014-05-08 05:05:15" in w for w in record.warnings)
    assert any("checksum is 0" in w for w in record.warnings)
    mat = scipy_io.loadmat(str(ecg_data / "cinc2017-dev" / "A00001.mat"))["val"][0]
    np.testing.assert_allclose(record.signal(0), mat / 1000.0)


def test_a_damaged_signal_file_fails_its_checksum(ecg_data: Path, tmp_path: Path) -> None:
    for suffix in (".hea", ".dat"):
        shutil.copy(ecg_data / "mitdb" / f"100{suffix}", tmp_path / f"100{suffix}")
    data = bytearray((tmp_path / "100.dat").read_bytes())
    data[30_000] ^= 0x55
    (tmp_path / "100.dat").write_bytes(bytes(data))
    with pytest.raises(WfdbError, match="checksum"):
        read_record(tmp_path / "100")


def test_header_with_comments_blank_lines_and_defaults() -> None:
    name, fs, nsamp, signals, warnings = parse_header(
        "# a comment\nrec 2 360 100\nrec.dat 212 200 11 1024 995 0 0 MLII\n\nrec.dat 212\n"
    )
    assert (name, fs, nsamp, warnings) == ("rec", 360.0, 100, [])
    assert signals[0].baseline == 1024
    assert signals[0].description == "MLII"
    assert signals[1].gain == 200.0  # WFDB's default for an uncalibrated signal


@pytest.mark.parametrize(
    ("header", "match"),
    [
        ("", "no record line"),
        ("rec 1 360 10\n", "1 signals announced, 0 described"),
        ("rec x 360\n", "unreadable record line"),
        ("rec 1 360 10\nrec.dat nine\n", "unreadable signal format"),
        ("rec 1 360 10\nrec.dat 16 lots/mV\n", "unreadable gain"),
        # Found by tests/fuzz: numbers that are not, once a plain ValueError.
        ("rec 1 360 10\nrec.dat 16 +\n", "unreadable signal line"),
        ("rec 1 360 10\nrec.dat 16 200 11 zero\n", "unreadable signal line"),
        ("rec 1 360 10\nrec.dat 16 200 11 0 first\n", "unreadable signal line"),
    ],
)
def test_malformed_headers_give_one_clear_error(header: str, match: str) -> None:
    with pytest.raises(WfdbError, match=match):
        parse_header(header)


def test_unsupported_format_and_missing_files_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "r.hea").write_text("r 1 250 10\nr.dat 80 200 8 0 0 0 0 ECG\n")
    (tmp_path / "r.dat").write_bytes(bytes(10))
    with pytest.raises(WfdbError, match="format 80 is not supported"):
        read_record(tmp_path / "r")
    with pytest.raises(WfdbError, match=r"missing\.hea"):
        read_record(tmp_path / "missing")

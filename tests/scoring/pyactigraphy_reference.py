"""Run inside the pyActigraphy reference env (.ci/reference-env): print its sleep scores.

Prints one JSON object: the path of the bundled ``example_01.AWD``, and pyActigraphy's
Cole-Kripke ("mean" setting, threshold 1) with and without Webster rescoring, and Sadeh,
each a list of 0/1 per minute. Not imported by the test suite: it runs as a subprocess.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

warnings.simplefilter("ignore")

import pyActigraphy  # type: ignore[import-not-found]  # noqa: E402

path = Path(pyActigraphy.__file__).parent / "tests" / "data" / "example_01.AWD"
raw = pyActigraphy.io.read_raw_awd(str(path))
print(  # noqa: T201 - the output is this script's purpose
    json.dumps(
        {
            "path": str(path),
            "counts": raw.data.astype(float).tolist(),
            "ck": raw.CK(settings="mean", rescoring=False).astype(int).tolist(),
            "ck_rescored": raw.CK(settings="mean", rescoring=True).astype(int).tolist(),
            "sadeh": raw.Sadeh().astype(int).tolist(),
        }
    )
)

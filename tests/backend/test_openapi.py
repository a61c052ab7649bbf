"""The web page's API types come from front-end/openapi.json: it must be the schema the service serves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mmer_api.openapi import main, render

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "front-end" / "openapi.json"


def test_the_pages_copy_of_the_schema_is_current() -> None:
    assert COMMITTED.read_text() == render(), (
        "the API changed: run `make api-types` and fix what the page's type check then reports")


def test_the_copy_describes_the_prediction_the_page_reads() -> None:
    schemas = json.loads(COMMITTED.read_text())["components"]["schemas"]
    required = set(schemas["Prediction"]["required"])
    assert {"emotion", "label", "confidence", "scores", "modalities", "timeline", "model", "duration_s",
            "timing_ms"} <= required
    assert set(schemas["Segment"]["required"]) == {"start", "end", "emotion", "confidence", "scores"}


def test_the_command_writes_a_file_or_standard_output(tmp_path: Path) -> None:
    out = tmp_path / "spec.json"
    assert main([str(out)]) == 0
    assert out.read_text() == render()
    done = subprocess.run([sys.executable, "-m", "mmer_api.openapi"], cwd=REPO / "back-end", capture_output=True,
                          text=True, check=True)
    assert json.loads(done.stdout)["info"]["title"] == "mmer"
    assert main(["a", "b"]) == 2

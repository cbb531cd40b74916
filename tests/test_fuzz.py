"""Schemathesis fuzzes the whole OpenAPI surface of a running web process.

Bounded (a fixed seed and a few examples per operation) so that CI stays fast. It asserts
that nothing answers 5xx and that every answer matches its documented status, content type and
schema. Two checks are left out, on purpose:
- positive_data_acceptance: Herald validates more than a schema can say (that a template
  exists, that its variables are given, that an address is deliverable), so schema-valid
  requests are often, rightly, refused with 422.
- allow_header_conformance: Starlette lists in `Allow` only the methods of the first route whose
  path matches; that is not about the API's data.
/readyz is left out: its 503 (no worker in this test) is its documented answer, not an error.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.herald import API_KEY, Herald

pytestmark = pytest.mark.e2e


def test_the_openapi_surface_survives_fuzzing(herald: Herald, tmp_path: Path):
    command = [
        str(Path(sys.executable).parent / "schemathesis"), "run", f"{herald.base}/openapi.json",
        "--header", f"Authorization: Bearer {API_KEY}",
        "--checks", "all", "--exclude-checks", "positive_data_acceptance,allow_header_conformance",
        "--exclude-path", "/readyz",
        "--max-examples", "12", "--seed", "20261121", "--no-color",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    summary = done.stdout[-4000:]
    assert done.returncode == 0, summary
    assert "Server error" not in done.stdout

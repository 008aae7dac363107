"""Nothing sends a reader to a document the repository does not have: the reference is docs/format.md."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
THIS = Path(__file__).resolve().relative_to(ROOT).as_posix()


@pytest.mark.parametrize("missing", ["SPEC", "CASES.md"])
def test_no_file_points_to_a_missing_document(missing: str) -> None:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    files = [ROOT / name for name in listed.split() if name != THIS and (ROOT / name).is_file()]

    pointing = [str(path) for path in files if missing in path.read_text(encoding="utf-8", errors="ignore")]

    assert pointing == []

"""The subject figure command produces a PNG."""

from __future__ import annotations

from pathlib import Path

import pytest

from ventriq_training.cohort.figure import main


def test_figure_writes_png(tmp_path: Path) -> None:
    out = tmp_path / "fig" / "subject.png"
    assert main(["--subject", "2", "--n", "20", "--out", str(out)]) == 0
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_figure_rejects_subject_outside_cohort(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--subject", "20", "--n", "20", "--out", str(tmp_path / "x.png")])

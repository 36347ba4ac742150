"""Atomic output: the final name only ever holds a complete file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ventriq_training.atomic import atomic_output, write_text_atomic


def test_success_renames_with_the_suffix_kept(tmp_path: Path) -> None:
    target = tmp_path / "model.nii.gz"
    with atomic_output(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".nii.gz") and tmp != target
        tmp.write_bytes(b"data")
        assert not target.exists()
    assert target.read_bytes() == b"data"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.nii.gz"]


def test_failure_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "table.md"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.md"]

"""Atomic file output: write under a temporary name beside the target, then rename over it.

A reader never sees a half-written file under its final name, and an interrupted run leaves at
worst a hidden ``.tmp-<pid>-<name>`` file, which is removed when the writer raises.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffixes, so writers that go by the suffix,
    like nibabel's ``.nii.gz`` or matplotlib's ``.png``, behave); on success it becomes ``path``
    (mode 0644), on error it is deleted."""
    final = Path(path)
    tmp = final.with_name(f".tmp-{os.getpid()}-{final.name}")
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text)

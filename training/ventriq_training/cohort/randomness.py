"""Deterministic random numbers keyed by (cohort seed, subject id, stream).

Each subject draws its own fixed-length vector of uniforms from a generator seeded with
``[seed, subject_id, stream]``. Everything else (physiology, ECG, CMR) is computed from those
vectors, so a subject is identical whether it is generated alone, in a batch, in another
process or on another day, and the streams are independent: changing the ECG model never
changes a subject's physiology.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum

import numpy as np
import numpy.typing as npt


class Stream(IntEnum):
    PHYSIOLOGY = 1
    ECG = 2
    CMR = 3
    SPLIT = 4
    ORACLE = 5


def subject_rng(seed: int, subject_id: int, stream: Stream) -> np.random.Generator:
    """A generator private to one subject and one stream."""
    return np.random.default_rng([int(seed), int(subject_id), int(stream)])


def subject_uniforms(
    seed: int, subject_ids: Sequence[int] | npt.NDArray[np.int64], stream: Stream, n: int
) -> npt.NDArray[np.float64]:
    """``(len(subject_ids), n)`` uniforms in (0, 1), row i depending only on (seed, subject_ids[i], stream)."""
    out = np.empty((len(subject_ids), n), dtype=np.float64)
    for row, sid in enumerate(subject_ids):
        out[row] = subject_rng(seed, int(sid), stream).random(n)
    # Keep strictly inside (0, 1) so inverse CDFs stay finite.
    np.clip(out, 1e-12, 1.0 - 1e-12, out=out)
    return out

"""Write the bundled sample recordings (``examples/recordings/``) deterministically.

    python -m ventriq_training.cohort.examples --out ../examples/recordings

Picks, from an enriched cohort (seed 2025, 400 subjects, enrich 20), a typical subject of each kind the
runtime's demo and tests want to show: a healthy heart, an anterior MI, AF, LBBB with reduced EF,
and RV dysfunction with RBBB. Each is a WFDB record (format 16) with its JSON truth sidecar.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ventriq_training.atomic import write_text_atomic
from ventriq_training.cohort.dataset import CohortConfig, SyntheticCohort
from ventriq_training.cohort.physiology import Latents
from ventriq_training.cohort.wfdb_export import export_subjects

EXAMPLE_COHORT = CohortConfig(seed=2025, n_subjects=400, enrich=20.0)


def pick_examples(lat: Latents, phenotypes: dict[str, npt.NDArray[np.floating[Any]]]) -> dict[str, int]:
    """A typical subject of each showcase kind: nearest the kind's median LVEF, RVEF and cardiac
    output (each scaled by its cohort SD; deterministic for a given cohort)."""
    keys = ("lvef_pct", "rvef_pct", "co_l_min")
    scaled = np.stack([phenotypes[k] / phenotypes[k].std() for k in keys], axis=1)
    none = ~(lat.cad | lat.af | lat.hf | lat.cardiomyopathy | lat.rv_dysfunction | lat.lbbb | lat.rbbb | lat.scd)
    kinds = {
        "normal": none & (lat.hr_bpm > 55) & (lat.hr_bpm < 75),
        "anterior_mi": lat.mi & (lat.mi_territory == 0) & ~lat.lbbb & ~lat.af & (lat.mi_size > 0.12),
        "atrial_fibrillation": lat.af & ~lat.lbbb & ~lat.mi,
        "lbbb_reduced_ef": lat.lbbb & (lat.hf_reduced | lat.dcm),
        "rv_dysfunction_rbbb": lat.rv_dysfunction & lat.rbbb,
    }
    out = {}
    for name, mask in kinds.items():
        hits = np.flatnonzero(mask)
        if not len(hits):
            raise RuntimeError(f"example cohort has no '{name}' subject; enlarge EXAMPLE_COHORT")
        distance = np.linalg.norm(scaled[hits] - np.median(scaled[hits], axis=0), axis=1)
        out[name] = int(hits[np.argmin(distance)])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    cohort = SyntheticCohort(EXAMPLE_COHORT)
    picks = pick_examples(cohort.latents, cohort.latent_phenotypes())
    index = []
    for name, i in picks.items():
        (head,) = export_subjects(cohort, [i], a.out, prefix=f"{name}_")
        labels = cohort.labels(i)
        index.append({"record": head.stem, "kind": name, "subject_id": i, **{k: round(v, 2) for k, v in labels.phenotypes.as_dict().items()}})
    write_text_atomic(a.out / "index.json", json.dumps({"cohort": EXAMPLE_COHORT.to_dict(), "records": index}, indent=2) + "\n")
    for row in index:
        print(f"{row['record']}: LVEF {row['lvef_pct']} %, RVEF {row['rvef_pct']} %, CO {row['co_l_min']} l/min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A figure of one subject: its 12-lead ECG and CMR at end-diastole and end-systole.

    python -m ventriq_training.cohort.figure --subject 3 --out cohort_subject.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ventriq_training.atomic import atomic_output  # noqa: E402
from ventriq_training.cohort.dataset import CohortConfig, SyntheticCohort  # noqa: E402
from ventriq_training.cohort.physiology import TERRITORIES  # noqa: E402
from ventriq_training.records import LEADS  # noqa: E402


def subject_figure(cohort: SyntheticCohort, i: int, out: Path) -> Path:
    """Draw subject i (ECG grid, mid/basal/apical slices at ED and ES) into a PNG at ``out``."""
    ecg = cohort.ecg(i)
    cine = cohort.cine(i)
    labels = cohort.labels(i)
    lat = cohort.latents
    fs = ecg.fs_hz
    t = np.arange(ecg.signal.shape[1]) / fs

    fig = plt.figure(figsize=(16, 11))
    grid = fig.add_gridspec(7, 6, height_ratios=[1, 1, 1, 1, 1, 1, 2.2], hspace=0.45, wspace=0.6)
    for k, lead in enumerate(LEADS):
        ax = fig.add_subplot(grid[k % 6, (k // 6) * 3 : (k // 6) * 3 + 3])
        ax.plot(t, ecg.signal[k], lw=0.6, color="k")
        ax.set_ylabel(f"{lead}\n(mV)", rotation=0, ha="right", va="center", fontsize=8)
        ax.set_xlim(0, t[-1])
        ax.grid(True, color="#f4b6b6", lw=0.4)
        ax.tick_params(labelsize=7)
        if k % 6 != 5:
            ax.set_xticklabels([])
        else:
            ax.set_xlabel("time (s)", fontsize=8)
    es = cine.es_frame or 0
    S = cine.frames.shape[0]
    picks = [(1, "basal"), (S // 2, "mid"), (min(S - 3, S - 1), "apical")]
    for col, (s, name) in enumerate(picks):
        for row, (frame, phase) in enumerate(((0, "ED"), (es, "ES"))):
            ax = fig.add_subplot(grid[6, col * 2 + row])
            ax.imshow(cine.frames[s, frame], cmap="gray", vmin=0, vmax=1.1)
            ax.contour(cine.masks[s, frame] if cine.masks is not None else np.zeros((2, 2)), levels=[0.5, 1.5, 2.5], colors=["#e33", "#3b3", "#39f"], linewidths=0.5)
            ax.set_title(f"{name} slice {s}, {phase} (frame {frame})", fontsize=8)
            ax.axis("off")
    ph = labels.phenotypes
    dz = [d for d, v in labels.diseases.as_dict().items() if v]
    extra = []
    if lat.mi[i]:
        extra.append(f"MI {TERRITORIES[int(lat.mi_territory[i])]} {100 * lat.mi_size[i]:.0f}%")
    for flag in ("lbbb", "rbbb", "right_axis", "rv_dysfunction", "hypertension"):
        if getattr(lat, flag)[i]:
            extra.append(flag)
    fig.suptitle(
        f"Synthetic subject {i} ({labels.sex}, {labels.age_years:.0f} y, HR {lat.hr_bpm[i]:.0f} bpm) - "
        f"LVEF {ph.lvef_pct:.1f} %, RVEF {ph.rvef_pct:.1f} %, CO {ph.co_l_min:.2f} l/min, "
        f"LVEDV {ph.lvedv_ml:.0f} ml, LVM {ph.lvm_g:.0f} g\n"
        f"diseases: {', '.join(dz) or 'none'}; {', '.join(extra) or 'no conduction/structural flags'}"
        " (contours: LV blood red, LV myocardium green, RV blood blue)",
        fontsize=10,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out) as tmp:
        fig.savefig(tmp, dpi=80)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--subject", type=int, default=0, help="subject id (default 0)")
    p.add_argument("--n", type=int, default=1000, help="cohort size the subject belongs to (default 1000)")
    p.add_argument("--seed", type=int, default=CohortConfig().seed)
    p.add_argument("--enrich", type=float, default=1.0)
    p.add_argument("--out", type=Path, default=Path("cohort_subject.png"))
    a = p.parse_args(argv)
    if not 0 <= a.subject < a.n:
        p.error(f"--subject must be in [0, {a.n})")
    cohort = SyntheticCohort(CohortConfig(seed=a.seed, n_subjects=a.n, enrich=a.enrich))
    print(subject_figure(cohort, a.subject, a.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Short-axis cine CMR rendered from each subject's ventricular geometry, and voxel-count phenotypes.

A stack of short-axis slices (slice 0 most basal) is planned from the base towards the apex, as
in the UK Biobank protocol (about 10 slices, 8 mm thick, 10 mm apart, 50 frames per cycle;
Petersen et al., JCMR 2016). Each voxel's label (ukbb_cardiac convention) is taken at its centre;
its intensity averages sub-samples across the pixel and the slice thickness (partial volume).
Contrast follows bSSFP: blood about 4.5 x myocardium, darker lung, textured chest wall and
liver; Rician noise; each slice is slightly shifted in-plane (breath-hold misregistration).

Phenotype labels are recomputed from the rendered masks by voxel counting (Simpson's rule:
voxels x in-plane area x slice spacing), as UK Biobank's pipelines do; ES is the frame of minimal
LV blood-pool volume. They differ from the latent geometry by the measurement error that
discretisation brings, as real labels do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.ndimage import gaussian_filter

from ventriq_training.cohort.geometry import (
    MYOCARDIUM_DENSITY_G_ML,
    RV_FREE_WALL_CM,
    Heart,
    lv_radii,
    rv_disc,
    systolic_phase,
)
from ventriq_training.cohort.randomness import Stream, subject_rng
from ventriq_training.records import (
    LABEL_LV_BLOOD,
    LABEL_LV_MYOCARDIUM,
    LABEL_RV_BLOOD,
    PHENOTYPES,
    CineCMR,
)

F = npt.NDArray[np.floating[Any]]
B = npt.NDArray[np.bool_]

BLOOD, MYOCARDIUM, RV_WALL = 1.0, 0.22, 0.24
_N_PHI_TABLE = 256


@dataclass(frozen=True)
class CMRConfig:
    """Acquisition geometry. Defaults are reduced for CPU training; ``ukbb()`` is the real protocol."""

    n_slices: int = 10
    n_frames: int = 16
    size_px: int = 64
    pixel_mm: float = 3.0
    slice_spacing_mm: float = 10.0
    slice_thickness_mm: float = 8.0
    supersample: int = 2  # sub-samples per pixel side and through the slice thickness
    noise_sd: float = 0.03
    misregistration_mm: float = 1.5

    @staticmethod
    def ukbb() -> CMRConfig:
        return CMRConfig(n_slices=10, n_frames=50, size_px=80, pixel_mm=1.8, supersample=2)


@dataclass(frozen=True)
class CMRViews:
    """The four views the five models contrast the ECG with."""

    mid_ed: npt.NDArray[np.generic]  # (H, W): mid-ventricular slice at ED (model 2)
    mid_cine: npt.NDArray[np.generic]  # (T, H, W): that slice over the cycle (model 3)
    ed_stack: npt.NDArray[np.generic]  # (S, H, W): all slices at ED (model 4)
    ed_es: npt.NDArray[np.generic]  # (2, S, H, W): ED and ES stacks (model 5, with the full cine)


def _slice_levels(h: Heart, cfg: CMRConfig, rng: np.random.Generator) -> F:
    """Long-axis position (cm from the apex) of each slice centre, basal first."""
    first = float(h.L[0]) - rng.uniform(0.2, 0.8)
    return first - np.arange(cfg.n_slices) * cfg.slice_spacing_mm / 10.0


def _classify(h: Heart, u: F, g: F, xx: F, yy: F) -> tuple[B, B, B, B]:
    """Tissue class of in-plane points at long-axis levels ``u`` (one per slice) and phases ``g``.

    ``xx``, ``yy``: (slices, H, W) positions in cm relative to the LV axis. Returns boolean arrays
    (slices, phases, H, W): LV blood, LV myocardium, RV blood, RV free wall.
    """
    phi_table = (np.arange(_N_PHI_TABLE) + 0.5) * (2 * np.pi / _N_PHI_TABLE)
    endo, epi = lv_radii(h, phi_table[None, None, :], u[:, None, None], g[None, :, None])  # (S, T, P)
    rv_r, rv_d = rv_disc(h, np.broadcast_to(u[:, None], endo.shape[:2]), g[None, :], epi.mean(axis=2))
    # float32 is ample for labels at sub-millimetre precision and halves the memory traffic.
    endo, epi = endo.astype(np.float32), epi.astype(np.float32)
    xx, yy = xx.astype(np.float32), yy.astype(np.float32)
    rv_r, rv_d = rv_r.astype(np.float32), rv_d.astype(np.float32)
    rho = np.hypot(xx, yy)[:, None]
    phi = np.mod(np.arctan2(yy, xx), 2 * np.pi)
    k = np.minimum((phi / (2 * np.pi) * _N_PHI_TABLE).astype(np.int64), _N_PHI_TABLE - 1)
    rows = (np.arange(len(u) * len(g)) * _N_PHI_TABLE).reshape(len(u), len(g), 1, 1)
    flat = rows + k[:, None]
    e_endo, e_epi = np.take(endo, flat), np.take(epi, flat)
    # The RV disc's centre lies towards the septum, i.e. at -x.
    rv_dist = np.hypot(xx[:, None] + rv_d[:, :, None, None], yy[:, None])
    rv_r = rv_r[:, :, None, None]
    lv_blood = rho < e_endo
    lv_myo = ~lv_blood & (rho < e_epi)
    outside_lv = rho >= e_epi
    rv_blood = outside_lv & (rv_dist < rv_r)
    rv_wall = outside_lv & ~rv_blood & (rv_dist < rv_r + RV_FREE_WALL_CM) & (rv_r > 0)
    return lv_blood, lv_myo, rv_blood, rv_wall


def render_cine(h: Heart, subject_id: int, seed: int, cfg: CMRConfig = CMRConfig(), with_images: bool = True) -> CineCMR:
    """Render one subject (``h`` holds exactly one subject). ``with_images=False`` renders masks only."""
    if len(h.L) != 1:
        raise ValueError("render_cine renders one subject: pass heart.take(i)")
    rng = subject_rng(seed, subject_id, Stream.CMR)
    S, T, N, ss = cfg.n_slices, cfg.n_frames, cfg.size_px, max(1, cfg.supersample)
    levels = _slice_levels(h, cfg, rng)
    shifts = rng.normal(0.0, cfg.misregistration_mm / 10.0, size=(S, 2))
    # LV axis right of the image centre, leaving room for the RV on the left (cm).
    centre = np.array([1.8, 0.0]) + rng.normal(0.0, 0.3, size=2)
    g = systolic_phase(np.arange(T) / T, float(h.es_fraction[0]))
    pix = cfg.pixel_mm / 10.0
    # x to the image right (patient left, the LV free wall), y to the image top (anterior), so the
    # RV lies on the image left as in the usual short-axis display. Rows run downwards.
    axis = (np.arange(N) - (N - 1) / 2) * pix
    offset = shifts + centre  # (S, 2)
    xx = axis[None, None, :] - offset[:, 0, None, None] + np.zeros((S, N, 1))
    yy = -(axis[None, :, None] - offset[:, 1, None, None]) + np.zeros((S, 1, N))

    lv_blood, lv_myo, rv_blood, _ = _classify(h, levels, g, xx, yy)
    masks = np.zeros((S, T, N, N), dtype=np.uint8)
    masks[lv_blood] = LABEL_LV_BLOOD
    masks[lv_myo] = LABEL_LV_MYOCARDIUM
    masks[rv_blood] = LABEL_RV_BLOOD

    frames = np.zeros((S, T, N, N), dtype=np.float32)
    if with_images:
        offsets = (np.arange(ss) + 0.5) / ss - 0.5
        sub = (axis[:, None] + offsets[None, :] * pix).ravel()
        z_offsets = offsets * cfg.slice_thickness_mm / 10.0
        for s in range(S):
            background = np.repeat(np.repeat(_background(rng, N), ss, axis=0), ss, axis=1)
            xs = (sub[None, :] - offset[s, 0]) + np.zeros((N * ss, 1))
            ys = -(sub[:, None] - offset[s, 1]) + np.zeros((1, N * ss))
            acc = np.zeros((T, N * ss, N * ss))
            for z in z_offsets:  # partial volume through the slice thickness
                lv_b, lv_m, rv_b, rv_w = (c[0] for c in _classify(h, levels[s : s + 1] + z, g, xs[None], ys[None]))
                acc += np.where(lv_b | rv_b, BLOOD, np.where(lv_m, MYOCARDIUM, np.where(rv_w, RV_WALL, background[None])))
            img = (acc / len(z_offsets)).reshape(T, N, ss, N, ss).mean(axis=(2, 4))
            noise = rng.normal(0.0, cfg.noise_sd, size=(2, T, N, N))
            frames[s] = np.hypot(img + noise[0], noise[1])  # magnitude image: Rician noise
    es = int(np.argmin((masks == LABEL_LV_BLOOD).sum(axis=(0, 2, 3))))
    return CineCMR(
        frames=frames,
        pixel_spacing_mm=(cfg.pixel_mm, cfg.pixel_mm),
        slice_spacing_mm=cfg.slice_spacing_mm,
        slice_thickness_mm=cfg.slice_thickness_mm,
        source=f"synthetic:{subject_id}",
        masks=masks,
        es_frame=es,
        frame_interval_ms=60000.0 / float(h.hr_cmr_bpm[0]) / T,
    )


def _background(rng: np.random.Generator, n: int) -> F:
    """Static tissue around the heart: smooth texture (chest wall, liver) and dark lung, which
    lies away from the heart (towards the image edges)."""
    field = gaussian_filter(rng.standard_normal((n, n)), sigma=n / 10, mode="wrap")
    field = (field - field.mean()) / (field.std() + 1e-9)
    tissue = 0.40 + 0.06 * field
    yy, xx = np.mgrid[0:n, 0:n] / (n - 1) - 0.5
    wobble = gaussian_filter(rng.standard_normal((n, n)), sigma=n / 8, mode="wrap")
    wobble = 0.04 * wobble / (wobble.std() + 1e-9)
    # Lungs flank the heart left and right; the chest wall and liver fill the rest.
    lung = (np.abs(xx) > 0.36 + wobble) & (np.abs(yy) < 0.38 + wobble)
    return np.where(lung, 0.06, tissue)


def expected_es_frame(h: Heart, cfg: CMRConfig = CMRConfig()) -> int:
    """The frame at which the latent geometry is most contracted (for checking the masks)."""
    g = systolic_phase(np.arange(cfg.n_frames) / cfg.n_frames, float(h.es_fraction[0]))
    return int(np.argmax(g))


def voxel_phenotypes(cine: CineCMR) -> dict[str, float]:
    """Phenotypes from the masks by voxel counting; ES = frame of minimal LV blood pool."""
    if cine.masks is None or cine.frame_interval_ms is None:
        raise ValueError(f"{cine.source}: voxel counting needs masks and the frame interval")
    v = cine.voxel_volume_ml
    lv = (cine.masks == LABEL_LV_BLOOD).sum(axis=(0, 2, 3)) * v
    rv = (cine.masks == LABEL_RV_BLOOD).sum(axis=(0, 2, 3)) * v
    es = int(np.argmin(lv))
    myo = float((cine.masks[:, 0] == LABEL_LV_MYOCARDIUM).sum()) * v
    hr = 60000.0 / (cine.frame_interval_ms * cine.frames.shape[1])
    sv = float(lv[0] - lv[es])
    out = {
        "lvedv_ml": float(lv[0]),
        "lvesv_ml": float(lv[es]),
        "lvsv_ml": sv,
        "lvef_pct": 100.0 * sv / max(float(lv[0]), 1e-9),
        "rvedv_ml": float(rv[0]),
        "rvesv_ml": float(rv[es]),
        "rvef_pct": 100.0 * float(rv[0] - rv[es]) / max(float(rv[0]), 1e-9),
        "co_l_min": sv * hr / 1000.0,
        "lvm_g": MYOCARDIUM_DENSITY_G_ML * myo,
    }
    assert tuple(out) == PHENOTYPES
    return out


def views(cine: CineCMR, images: npt.NDArray[np.generic] | None = None) -> CMRViews:
    """The four views of ``cine`` (or of ``images``, e.g. its masks, cut the same way).

    The mid-ventricular slice is the middle slice of the stack (which is planned from the base to
    beyond the apex), the same rule for synthetic and real data; ES is ``cine.es_frame``.
    """
    f = cine.frames if images is None else images
    mid = f.shape[0] // 2
    es = cine.es_frame if cine.es_frame is not None else 0
    return CMRViews(
        mid_ed=f[mid, 0],
        mid_cine=f[mid],
        ed_stack=f[:, 0],
        ed_es=np.stack([f[:, 0], f[:, es]]),
    )

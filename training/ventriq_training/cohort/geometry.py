"""Ventricular geometry over the cardiac cycle, and the CMR phenotypes computed from it.

The LV cavity is a truncated prolate ellipsoid (apex at long-axis position u = 0, base plane at
u = L, i.e. 35 % of the semi-axis above the equator); the epicardium is the same ellipsoid grown
by the wall thickness. The RV cavity, in every short-axis plane, is a disc on the septal side of
the LV whose overlap with the LV epicardium is cut away: a crescent wrapped around the septum.

Motion: a material level u_ed moves to u = u_ed * (1 - s_l g) (the apex is fixed, the base
descends: longitudinal shortening), and the endocardium moves inwards by the radial shortening
s_r g, except where an infarct makes the wall akinetic. g in [0, 1] is the systolic fraction of
the cycle (0 at ED, 1 at ES). The epicardium follows from incompressible myocardium: each
annular sector keeps its volume. Every function here takes arrays that broadcast against each
other, so the same code integrates volumes on a grid (phenotypes) and labels pixels (renderer).

The phenotypes are integrals of this geometry, never sampled directly: EF, stroke volume and
cardiac output follow from shape, contraction and heart rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from ventriq_training.cohort.physiology import Latents

F = npt.NDArray[np.floating[Any]]

BASE_ABOVE_EQUATOR = 0.35  # base plane position above the LV equator, in units of the semi-axis
MYOCARDIUM_DENSITY_G_ML = 1.05
RV_CRESCENT_DEPTH = 0.7  # RV cavity depth beyond the LV epicardium, in units of the RV disc radius
RV_FREE_WALL_CM = 0.3
INFARCT_CENTRE_RAD = {0: np.deg2rad(120.0), 1: np.deg2rad(250.0), 2: np.deg2rad(330.0)}
"""Short-axis angle of each territory's centre: 0 = lateral, 90 = anterior, 180 = septum, 270 = inferior."""
INFARCT_LONG_RANGE = {0: (0.0, 0.70), 1: (0.25, 1.0), 2: (0.2, 1.0)}
"""Long-axis extent (fraction of L from the apex): LAD apical-mid, RCA and LCx basal-mid."""
SEPTUM_RAD = np.pi

_N_PHI = 48
_N_U = 48


@dataclass(frozen=True)
class Heart:
    """Geometry and motion parameters (struct of arrays, cm and fractions)."""

    L: F  # LV endocardial length apex-to-base at ED
    r: F  # LV endocardial equatorial radius at ED
    t: F  # LV wall thickness at ED
    s_r: F  # endocardial radial shortening at ES
    s_l: F  # longitudinal shortening at ES
    reg_amp: F  # regional heterogeneity of radial shortening along the long axis
    reg_phase: F
    shape_a: F  # LV radius modes along the long axis (taper, bulge), relative
    shape_b: F
    rv_shape: F  # RV taper, relative
    inf_w: F  # infarct akinesis (0 = none, 1 = akinetic core)
    inf_phi: F
    inf_halfwidth: F
    inf_u_lo: F  # long-axis extent, fraction of L
    inf_u_hi: F
    inf_apex: F  # 1 where the infarct also covers the apical cap (LAD)
    rv_R0: F  # RV disc radius at its widest level, ED
    s_rv: F  # RV radial shortening at ES
    s_lrv: F  # RV longitudinal shortening at ES
    hr_cmr_bpm: F
    es_fraction: F  # time of ES as a fraction of the cycle

    @property
    def c(self) -> F:
        return self.L / (1.0 + BASE_ABOVE_EQUATOR)

    def take(self, index: npt.NDArray[np.int64] | slice | int) -> Heart:
        if isinstance(index, int):
            index = np.array([index])
        return replace(self, **{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def expand(self, ndim: int) -> Heart:
        """Parameters reshaped to (N, 1, ..., 1) for broadcasting against ndim grid axes."""
        shape = (-1,) + (1,) * ndim
        return replace(self, **{f.name: getattr(self, f.name).reshape(shape) for f in fields(self)})


# --------------------------------------------------------------------------------------------
# Shape functions (all broadcasting)
# --------------------------------------------------------------------------------------------

def infarct_weight(h: Heart, phi: F, u_ed: F) -> F:
    """Akinesis weight in [0, inf_w]: 1/(1+x^6) windows give a core with soft (~1 pixel) edges."""
    dphi = np.angle(np.exp(1j * (phi - h.inf_phi)))
    angular = 1.0 / (1.0 + (np.abs(dphi) / np.maximum(h.inf_halfwidth, 1e-6)) ** 6)
    mid = 0.5 * (h.inf_u_lo + h.inf_u_hi) * h.L
    half = 0.5 * (h.inf_u_hi - h.inf_u_lo) * h.L
    longitudinal = 1.0 / (1.0 + ((u_ed - mid) / half) ** 6)
    apical_cap = h.inf_apex / (1.0 + (np.maximum(u_ed, 0.0) / (0.22 * h.L)) ** 6)
    return h.inf_w * np.maximum(angular * longitudinal, apical_cap)


def _ellipse_radius(equatorial: F, semi_axis: F, centre: F, u: F) -> F:
    return equatorial * np.sqrt(np.clip(1.0 - ((u - centre) / semi_axis) ** 2, 0.0, None))


def lv_radii(h: Heart, phi: F, u: F, g: F | float) -> tuple[F, F]:
    """Endocardial and epicardial radius at angle phi and *spatial* long-axis level u, phase g."""
    long_factor = 1.0 - h.s_l * g
    u_ed = u / long_factor
    c = h.c
    inside_endo = (u_ed >= 0.0) & (u_ed <= h.L)
    inside_epi = (u_ed >= -h.t) & (u_ed <= h.L)
    w = infarct_weight(h, phi, u_ed)
    # Scar thins the wall: the cavity bulges into the infarct by up to 35 % of the wall.
    x = np.clip(u_ed / h.L, 0.0, 1.0)
    modes = 1.0 + h.shape_a * (2 * x - 1) + h.shape_b * np.cos(2 * np.pi * x)
    endo_ed = np.where(inside_endo, modes * _ellipse_radius(h.r, c, c, u_ed) + 0.35 * h.t * w, 0.0)
    epi_ed = np.where(inside_epi, modes * _ellipse_radius(h.r + h.t, c + h.t, c, u_ed), 0.0)
    endo_ed = np.minimum(endo_ed, epi_ed)
    # Regional heterogeneity: radial shortening varies along the long axis (1.5 cycles base to apex).
    regional = 1.0 + h.reg_amp * np.cos(2 * np.pi * (1.5 * u_ed / h.L + h.reg_phase))
    endo = endo_ed * (1.0 - np.clip(h.s_r * regional, 0.0, 0.9) * g * (1.0 - w))
    epi = np.sqrt(endo**2 + (epi_ed**2 - endo_ed**2) / long_factor)
    return endo, epi


def rv_disc(h: Heart, u: F, g: F | float, lv_epi_mean: F) -> tuple[F, F]:
    """RV disc radius and its centre's distance from the LV axis (towards the septum) at level u."""
    long_factor = 1.0 - h.s_lrv * g
    u_ed = u / long_factor
    ua, uc = 0.28 * h.L, 0.72 * h.L
    profile = np.sqrt(np.clip(1.0 - ((u_ed - uc) / (uc - ua)) ** 2, 0.0, None))
    profile = np.where(u_ed <= h.L, profile * (1.0 + h.rv_shape * (2 * np.clip(u_ed / h.L, 0, 1) - 1)), 0.0)
    radius = h.rv_R0 * profile * (1.0 - h.s_rv * g)
    distance = lv_epi_mean + (RV_CRESCENT_DEPTH - 1.0) * radius
    return radius, distance


def _lens_area(r1: F, r2: F, d: F) -> F:
    """Area of the intersection of two discs with radii r1, r2 and centre distance d."""
    d = np.maximum(d, 1e-9)
    contained = d <= np.abs(r1 - r2)
    apart = d >= r1 + r2
    a1 = np.clip((d**2 + r1**2 - r2**2) / (2 * d * np.maximum(r1, 1e-9)), -1, 1)
    a2 = np.clip((d**2 + r2**2 - r1**2) / (2 * d * np.maximum(r2, 1e-9)), -1, 1)
    k = np.clip((-d + r1 + r2) * (d + r1 - r2) * (d - r1 + r2) * (d + r1 + r2), 0, None)
    lens = r1**2 * np.arccos(a1) + r2**2 * np.arccos(a2) - 0.5 * np.sqrt(k)
    return np.where(apart, 0.0, np.where(contained, np.pi * np.minimum(r1, r2) ** 2, lens))


# --------------------------------------------------------------------------------------------
# Volumes by numerical integration on a (phi, u) grid
# --------------------------------------------------------------------------------------------

def lv_volumes_ml(h: Heart, g: F | float) -> tuple[F, F]:
    """LV cavity and myocardium volumes (ml) at phase g, for every subject in h."""
    cavity = np.empty(len(h.L))
    myo = np.empty(len(h.L))
    for rows, n_phi in _by_symmetry(h):
        if not len(rows):
            continue
        he = h.take(rows).expand(2)
        top = he.L * (1.0 - he.s_l * g)
        bottom = -he.t
        frac = (np.arange(_N_U) + 0.5) / _N_U
        u = bottom + (top - bottom) * frac.reshape(1, 1, -1)
        du = ((top - bottom) / _N_U)[:, 0, 0]
        phi = ((np.arange(n_phi) + 0.5) * (2 * np.pi / n_phi)).reshape(1, -1, 1)
        endo, epi = lv_radii(he, phi, u, g)
        dphi = 2 * np.pi / n_phi
        cavity[rows] = (0.5 * endo**2).sum(axis=(1, 2)) * dphi * du
        myo[rows] = (0.5 * (epi**2 - endo**2)).sum(axis=(1, 2)) * dphi * du
    return cavity, myo


def _rv_levels(h: Heart, g: F | float) -> tuple[Heart, F, F, F]:
    """Long-axis sample levels of the RV, their spacing, and the mean LV epicardial radius there."""
    he = h.expand(2)
    top = he.L * (1.0 - he.s_lrv * g)
    bottom = 0.28 * he.L * (1.0 - he.s_lrv * g)
    frac = (np.arange(_N_U) + 0.5) / _N_U
    u = bottom + (top - bottom) * frac.reshape(1, 1, -1)
    du = (top - bottom)[:, 0, 0] / _N_U
    epi_mean = np.empty_like(u)
    for rows, n_phi in _by_symmetry(h):
        if len(rows):
            phi = ((np.arange(n_phi) + 0.5) * (2 * np.pi / n_phi)).reshape(1, -1, 1)
            _, epi = lv_radii(he.take(rows), phi, u[rows], g)
            epi_mean[rows] = epi.mean(axis=1, keepdims=True)
    return he, u, du, epi_mean


def _rv_volume_from_levels(he: Heart, g: F | float, u: F, du: F, epi_mean: F) -> F:
    radius, distance = rv_disc(he, u, g, epi_mean)
    area = np.pi * radius**2 - _lens_area(radius, epi_mean, distance)
    return area.sum(axis=(1, 2)) * du


def _rv_volume_ml(h: Heart, g: F | float) -> F:
    he, u, du, epi_mean = _rv_levels(h, g)
    return _rv_volume_from_levels(he, g, u, du, epi_mean)


def _by_symmetry(h: Heart) -> list[tuple[npt.NDArray[np.int64], int]]:
    """Subjects without an infarct are axisymmetric: one angle integrates them exactly."""
    infarct = np.asarray(h.inf_w).reshape(-1) > 0
    return [(np.flatnonzero(~infarct), 1), (np.flatnonzero(infarct), _N_PHI)]


def _bisect(fn: Callable[[F], F], lo: F, hi: F, target: F, increasing: bool, iters: int = 32) -> F:
    """Vectorised bisection: per subject, the x in [lo, hi] where the monotone fn(x) meets target."""
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        above = fn(mid) > target
        go_down = above if increasing else ~above
        hi = np.where(go_down, mid, hi)
        lo = np.where(go_down, lo, mid)
    return 0.5 * (lo + hi)


# --------------------------------------------------------------------------------------------
# From latent physiology to a heart
# --------------------------------------------------------------------------------------------

def _shape_volume_factor(c: F) -> F:
    """Volume of the truncated ellipsoid per unit r^2: pi (2c/3 + z0 - z0^3 / 3c^2)."""
    z0 = BASE_ABOVE_EQUATOR * c
    return np.pi * (2 * c / 3 + z0 - z0**3 / (3 * c**2))


def build_heart(lat: Latents) -> Heart:
    """Geometry and contraction of every subject, from its latents (see COHORT.md for sources)."""
    male = lat.male.astype(np.float64)
    age_d = lat.age_years - 64.0
    hcm = lat.cardiomyopathy & ~lat.dcm

    # Long axis: men 9.4 cm, women 8.5 cm at ED, scaling with height.
    L = np.where(lat.male, 9.4, 8.5) * np.sqrt(lat.height_cm / np.where(lat.male, 175.8, 162.6))
    # A failing ventricle remodels: it dilates and grows rounder (shorter for its volume).
    L = L * np.exp(0.05 * lat.z_lax + 0.03 * lat.z_lvf_hid) * np.where(lat.dcm, 1.1, 1.0)

    # End-diastolic volume: indexed to BSA (Petersen et al. 2017: men 166 +/- 32, women 124 +/- 21 ml).
    size = 0.14 * (0.8 * lat.z_size_vis + 0.6 * lat.z_size_hid)
    edv_healthy = np.where(lat.male, 83.0, 71.5) * lat.bsa_m2 * np.exp(size) * (1.0 - 0.004 * age_d)
    # Dilatation with reduced EF keeps stroke volume from collapsing, not normal (HFrEF EDV ~200-250 ml).
    dilatation = np.maximum(np.where(lat.dcm, 1.5, 1.0), np.where(lat.hf_reduced, 1.35, 1.0))
    edv = edv_healthy * np.exp(-0.06 * lat.z_lvf_hid) * dilatation
    edv = edv * (1.0 + 0.9 * lat.mi_size) * np.where(hcm, 0.85, 1.0)
    # AF: no atrial kick, so less filling (~10-15 % lower preload; rate-controlled HR only ~8 bpm up).
    edv = edv * np.where(lat.af, 0.88, 1.0)
    c = L / (1.0 + BASE_ABOVE_EQUATOR)
    r = np.sqrt(edv / _shape_volume_factor(c))

    # Wall thickness: calibrated so LV mass is near Petersen et al. (men 103 +/- 21 g, women 79 +/- 16 g).
    wall = 0.12 * (0.6 * lat.z_wall_vis + 0.8 * lat.z_wall_hid)
    t = np.where(lat.male, 0.60, 0.55) * np.exp(wall) * (1.0 + 0.13 * lat.hypertension) * (1.0 + 0.004 * age_d)
    t = t + 0.55 * hcm
    t = t * np.where(lat.dcm, 0.85, 1.0)

    # Intrinsic (global, infarct-free) EF: men 58, women 61 +/- 5 % (Petersen et al. 2017).
    # Relative wall thickness amplifies EF: for the same myocardial shortening a thicker wall
    # moves the endocardium further in (incompressibility; midwall vs endocardial shortening,
    # de Simone et al., Circulation 1994). So part of EF shows in the ED anatomy.
    z_rwt = (np.log(t / r) + 1.49) / 0.167
    ef = np.where(lat.male, 57.6, 60.6) + 0.08 * age_d
    ef = ef + 4.8 * (0.78 * lat.z_lvf_vis + 0.2 * lat.z_lvf_hid + 0.6 * np.clip(z_rwt, -3.0, 3.0))
    ef = np.where(lat.hf & ~lat.hf_reduced, ef - 2.0, ef)
    ef = np.where(lat.hf_reduced, 34.0 + 6.0 * lat.z_ef_dz + 2.0 * lat.z_lvf_vis, ef)
    ef = np.where(lat.dcm, 30.0 + 6.0 * lat.z_ef_dz + 2.0 * lat.z_lvf_vis, ef)
    ef = np.where(hcm, ef + 6.0, ef)
    ef = np.where(lat.af, ef - 4.0, ef)
    ef = np.clip(ef, 12.0, 80.0) / 100.0

    # Longitudinal shortening ~15 % (tracks EF, with a hidden part), radial shortening from EF.
    s_l = 0.15 * (ef / 0.58) ** 0.8 * np.exp(0.3 * lat.z_long)
    s_l = np.clip(s_l, 0.03, 0.6 * ef)
    s_r = 1.0 - np.sqrt((1.0 - ef) / (1.0 - s_l))

    # Infarct: akinetic sector of the territory, sized to the infarct fraction.
    territory = lat.mi_territory
    lo = np.choose(territory, [INFARCT_LONG_RANGE[k][0] for k in range(3)])
    hi = np.choose(territory, [INFARCT_LONG_RANGE[k][1] for k in range(3)])
    halfwidth = np.clip(np.pi * lat.mi_size / (hi - lo), 0.05, np.pi)
    inf_w = np.where(lat.mi, np.clip(0.75 + 0.8 * lat.mi_size, 0.0, 1.0), 0.0)
    inf_phi = np.choose(territory, [INFARCT_CENTRE_RAD[k] for k in range(3)])
    inf_apex = (lat.mi & (territory == 0)).astype(np.float64)

    # RV: RVEDV ~ 1.1 x LVEDV (Petersen: men 182 +/- 36, women 130 +/- 24 ml), RVEF men 56, women 60 +/- 6 %.
    rvedv = edv_healthy * np.where(lat.male, 1.10, 1.05) * np.exp(0.09 * lat.z_rv_size - 0.06 * lat.z_rvf_hid)
    rvedv = rvedv * np.where(lat.rv_dysfunction, 1.35, 1.0) * np.where(lat.dcm, 1.15, 1.0) * np.where(lat.hf, 1.1, 1.0)
    rvef = np.where(lat.male, 56.0, 60.0) + 6.0 * (0.5 * lat.z_lvf_vis + 0.65 * lat.z_rvf_vis + 0.57 * lat.z_rvf_hid)
    rvef = rvef - 17.0 * lat.rv_dysfunction - 7.0 * lat.hf_reduced - 4.0 * lat.af - 6.0 * lat.dcm
    rvef = np.clip(rvef, 15.0, 80.0) / 100.0
    # RV ejection is mostly longitudinal (TAPSE ~2.3 cm of ~8 cm): its own, hidden, variability.
    s_lrv = np.clip(0.22 * np.exp(0.25 * lat.z_rv_long), 0.05, 0.7 * rvef)

    hr_cmr = lat.hr_bpm * np.exp(0.05 * lat.z_hr_cmr)
    rr = 60.0 / hr_cmr
    # ES at ~Bazett-scaled ejection end, with individual variation of ejection time.
    es_fraction = np.clip(0.37 / np.sqrt(rr) * np.exp(0.1 * lat.z_ejection), 0.25, 0.6)

    zeros = np.zeros_like(L)
    heart = Heart(
        L=L, r=r, t=t, s_r=s_r, s_l=s_l, reg_amp=0.3 * lat.z_regional, reg_phase=lat.regional_phase,
        shape_a=0.08 * lat.z_shape_a, shape_b=0.06 * lat.z_shape_b, rv_shape=0.12 * lat.z_rv_shape, inf_w=inf_w, inf_phi=inf_phi, inf_halfwidth=halfwidth,
        inf_u_lo=lo, inf_u_hi=hi, inf_apex=inf_apex, rv_R0=zeros + 3.0, s_rv=zeros,
        s_lrv=s_lrv, hr_cmr_bpm=hr_cmr, es_fraction=es_fraction,
    )
    # Solve the RV disc size for the RV end-diastolic volume, then its shortening for the RVEF.
    # The LV epicardium at each RV level does not depend on the RV: compute it once per phase.
    he, u, du, epi = _rv_levels(heart, 0.0)
    rv_R0 = _bisect(
        lambda R: _rv_volume_from_levels(replace(he, rv_R0=R[:, None, None]), 0.0, u, du, epi),
        zeros + 0.5, zeros + 9.0, rvedv, True,
    )
    heart = replace(heart, rv_R0=rv_R0)
    he, u, du, epi = _rv_levels(heart, 1.0)
    s_rv = _bisect(
        lambda s: _rv_volume_from_levels(replace(he, s_rv=s[:, None, None]), 1.0, u, du, epi),
        zeros, zeros + 0.9, rvedv * (1.0 - rvef), False,
    )
    return replace(heart, s_rv=s_rv)


def systolic_phase(tau: F, es_fraction: F | float) -> F:
    """g(tau): 0 at ED, 1 at ES; tau is the fraction of the cycle since the R wave.

    Ejection is a half-cosine up to ES; diastole has rapid filling (to 25 %), diastasis (to 15 %)
    and the atrial kick in the last 15 % of the cycle.
    """
    tau = np.mod(tau, 1.0)
    es = es_fraction
    rapid_end = es + 0.25 * (1.0 - es)
    systole = 0.5 * (1 - np.cos(np.pi * tau / es))
    rapid = 0.25 + 0.75 * 0.5 * (1 + np.cos(np.pi * (tau - es) / (rapid_end - es)))
    diastasis = 0.25 - 0.10 * (tau - rapid_end) / np.maximum(0.85 - rapid_end, 1e-6)
    kick = 0.15 * 0.5 * (1 + np.cos(np.pi * (tau - 0.85) / 0.15))
    return np.where(tau <= es, systole, np.where(tau <= rapid_end, rapid, np.where(tau <= 0.85, diastasis, kick)))


def phenotypes_from_heart(h: Heart, chunk: int = 1024) -> dict[str, F]:
    """The nine CMR phenotypes of every subject, integrated from the geometry."""
    parts: dict[str, list[F]] = {k: [] for k in ("edv", "esv", "myo", "rvedv", "rvesv")}
    n = len(h.L)
    for start in range(0, n, chunk):
        part = h.take(np.arange(start, min(n, start + chunk)))
        edv, myo = lv_volumes_ml(part, 0.0)
        esv, _ = lv_volumes_ml(part, 1.0)
        parts["edv"].append(edv)
        parts["esv"].append(esv)
        parts["myo"].append(myo)
        parts["rvedv"].append(_rv_volume_ml(part, 0.0))
        parts["rvesv"].append(_rv_volume_ml(part, 1.0))
    v = {k: np.concatenate(p) if p else np.zeros(0) for k, p in parts.items()}
    sv = v["edv"] - v["esv"]
    return {
        "lvedv_ml": v["edv"],
        "lvesv_ml": v["esv"],
        "lvsv_ml": sv,
        "lvef_pct": 100.0 * sv / v["edv"],
        "rvedv_ml": v["rvedv"],
        "rvesv_ml": v["rvesv"],
        "rvef_pct": 100.0 * (v["rvedv"] - v["rvesv"]) / v["rvedv"],
        "co_l_min": sv * h.hr_cmr_bpm / 1000.0,
        "lvm_g": MYOCARDIUM_DENSITY_G_ML * v["myo"],
    }

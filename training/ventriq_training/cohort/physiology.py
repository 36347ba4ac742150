"""Latent physiology of each synthetic subject: demographics, diseases, and the factors behind geometry.

The latent variables split into two sets, and the split is the cohort's calibration device
(see COHORT.md, "Calibration"):

- ``ECG_VISIBLE``: the variables the ECG generator reads. Anything an ECG model can learn about a
  phenotype must pass through these.
- ``HIDDEN``: variables that shape the heart (and so every CMR view and phenotype) but that the
  ECG generator never reads: body size, the hidden parts of LV/RV function, long-axis function,
  the heart rate on the day of the scan.

Both sets are drawn independently given sex, so E[phenotype | ECG_VISIBLE] can be computed by
re-drawing HIDDEN (``resample_hidden``), which gives the oracle ceiling of any ECG model.

Sources for the distributions (UK Biobank imaging cohort unless noted):
- age 64 +/- 7.6 y, 48 % men: Littlejohns et al., Nat Commun 2020 (imaging enhancement).
- height/weight: UK Biobank baseline anthropometry (men 176 +/- 7 cm, 85 +/- 13 kg; women
  163 +/- 6 cm, 70 +/- 13 kg); BSA by Mosteller (1987).
- resting HR 62 +/- 10 bpm at imaging.
- prevalences: CAD 4-6 %, AF 2-3 %, MI 1.5-2.5 %, HF 0.3-0.6 %, cardiomyopathy 0.1-0.3 %,
  SCD < 0.2 % (as specified for the study's prevalent-disease read-outs; Raisi-Estabragh et al.,
  Front Cardiovasc Med 2021, report prevalent CVD at imaging of this order).
- MI territories LAD 45 % / RCA 35 % / LCx 20 %, infarct size 5-35 % of LV mass (median ~12 %):
  typical of CMR LGE cohorts (e.g. Bulluck et al., Heart 2016).
- LBBB in ~1 % of the general population over 60 and ~30 % of HFrEF; RBBB ~1.5 % (Eriksson et al.,
  Eur Heart J 2005; Francia et al., J Cardiovasc Electrophysiol 2007).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from scipy.special import expit, ndtri

from ventriq_training.cohort.randomness import Stream, subject_uniforms

F = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

# Every uniform a subject draws, by name. Order is part of the cohort's definition:
# appending is safe, reordering changes every subject.
UNIFORM_COLUMNS: tuple[str, ...] = (
    "age", "sex", "height", "weight", "hr",
    "u_mi", "u_cad", "u_cm", "u_cm_type", "u_af", "u_hf", "u_hf_reduced", "u_scd", "u_htn",
    "u_rvd", "u_lbbb", "u_rbbb", "u_rad", "mi_territory", "mi_size",
    "z_lvf_vis", "z_lvf_hid", "z_rvf_vis", "z_rvf_hid", "z_size_vis", "z_size_hid",
    "z_wall_vis", "z_wall_hid", "z_long", "z_rv_size", "z_hr_cmr", "z_lax", "z_ef_dz",
    "z_regional", "regional_phase", "z_ejection", "z_rv_long", "z_shape_a", "z_shape_b", "z_rv_shape",
)
HIDDEN_COLUMNS: frozenset[str] = frozenset(
    {"height", "weight", "z_lvf_hid", "z_rvf_hid", "z_size_hid", "z_wall_hid", "z_long",
     "z_rv_size", "z_hr_cmr", "z_lax", "z_ef_dz", "z_regional", "regional_phase",
     "z_ejection", "z_rv_long", "z_shape_a", "z_shape_b", "z_rv_shape"}
)

# Disease model: logit(p) = intercept + age_coef * age_z + male_coef * (male - 0.48) + links.
# Intercepts were calibrated on 200,000 subjects to land in the middle of the target ranges
# (tests/test_physiology.py checks 10,000 subjects against the ranges).
_MI = (-4.17, 0.55, 0.9)
_CAD_OTHER = (-3.6, 0.55, 0.6)
_CM = (-6.0, 0.0, 0.4)
_AF = (-3.94, 0.8, 0.45)
_HF = (-5.93, 0.5, 0.3)
_SCD = (-6.85, 0.3, 0.5)
_HTN = (-0.85, 0.5, 0.3)
_RVD = (-4.6, 0.3, 0.0)

TERRITORIES: tuple[str, ...] = ("LAD", "RCA", "LCx")


@dataclass(frozen=True)
class Latents:
    """Struct of arrays: one entry per subject. Units in names; z_* are standard normal."""

    subject_id: npt.NDArray[np.int64]
    # ---- ECG-visible ------------------------------------------------------------------------
    age_years: F
    male: B
    hr_bpm: F
    mi: B
    mi_territory: npt.NDArray[np.int64]  # index into TERRITORIES; meaningful where mi
    mi_size: F  # fraction of LV myocardium; 0 where no MI
    cad: B
    cardiomyopathy: B
    dcm: B  # dilated cardiomyopathy (else hypertrophic) where cardiomyopathy
    af: B
    hf: B
    hf_reduced: B  # HF with reduced EF (else preserved)
    scd: B
    hypertension: B
    rv_dysfunction: B
    lbbb: B
    rbbb: B
    right_axis: B
    z_lvf_vis: F
    z_rvf_vis: F
    z_size_vis: F
    z_wall_vis: F
    # ---- hidden from the ECG ----------------------------------------------------------------
    height_cm: F
    weight_kg: F
    z_lvf_hid: F
    z_rvf_hid: F
    z_size_hid: F
    z_wall_hid: F
    z_long: F
    z_rv_size: F
    z_hr_cmr: F
    z_lax: F
    z_ef_dz: F
    z_regional: F  # amplitude of base-to-apex heterogeneity of radial shortening
    regional_phase: F  # in [0, 1)
    z_ejection: F  # ejection time beyond what heart rate explains
    z_rv_long: F  # RV longitudinal function (TAPSE)
    z_shape_a: F  # LV shape modes beyond the ellipsoid: base-apex taper
    z_shape_b: F  # ... and mid-cavity bulge
    z_rv_shape: F  # RV base-apex taper

    ECG_VISIBLE: ClassVar[frozenset[str]] = frozenset(
        {"age_years", "male", "hr_bpm", "mi", "mi_territory", "mi_size", "cad", "cardiomyopathy",
         "dcm", "af", "hf", "hf_reduced", "scd", "hypertension", "rv_dysfunction", "lbbb", "rbbb",
         "right_axis", "z_lvf_vis", "z_rvf_vis", "z_size_vis", "z_wall_vis"}
    )

    def __len__(self) -> int:
        return len(self.subject_id)

    @property
    def bsa_m2(self) -> F:
        """Body surface area, Mosteller: sqrt(height_cm * weight_kg / 3600)."""
        return np.sqrt(self.height_cm * self.weight_kg / 3600.0)

    def take(self, index: npt.NDArray[np.int64] | slice | int) -> Latents:
        """A subset (or a single subject as a batch of one)."""
        if isinstance(index, int):
            index = np.array([index])
        return replace(self, **{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def row(self, i: int) -> dict[str, float | int | bool | str]:
        """One subject's latents as plain Python values (for JSON sidecars)."""
        out: dict[str, float | int | bool | str] = {}
        for f in fields(self):
            v = getattr(self, f.name)[i]
            out[f.name] = bool(v) if v.dtype == np.bool_ else (int(v) if v.dtype.kind == "i" else float(v))
        out["bsa_m2"] = float(self.bsa_m2[i])
        out["mi_territory_name"] = TERRITORIES[int(self.mi_territory[i])] if self.mi[i] else "none"
        return out


def _disease(u: F, params: tuple[float, float, float], age_z: F, male: B, shift: F | float) -> B:
    intercept, age_coef, male_coef = params
    p = expit(intercept + age_coef * age_z + male_coef * (male - 0.48) + shift)
    return np.asarray(u < p)


def latents_from_uniforms(subject_ids: npt.NDArray[np.int64], u: F, enrich: float = 1.0) -> Latents:
    """Map each subject's uniforms to latent physiology.

    ``enrich`` multiplies the odds of every disease (enrich=1: UK-Biobank-like prevalences). Use it
    to get enough positives for training read-outs on small cohorts; report metrics on enrich=1.
    """
    if enrich <= 0:
        raise ValueError(f"enrich must be > 0, got {enrich}")
    col = {name: u[:, i] for i, name in enumerate(UNIFORM_COLUMNS)}
    z = {name: ndtri(v) for name, v in col.items()}
    log_enrich = float(np.log(enrich))

    male = col["sex"] < 0.48
    age = np.clip(64.0 + 7.6 * z["age"], 45.0, 82.0)
    age_z = (age - 64.0) / 7.6
    height = np.where(male, 175.8 + 6.8 * z["height"], 162.6 + 6.2 * z["height"])
    weight = np.where(male, 84.5, 70.0) * np.exp(np.where(male, 0.145, 0.175) * z["weight"] - 0.01)

    # Diseases, in causal order (MI implies CAD; HF and SCD depend on the others).
    mi = _disease(col["u_mi"], _MI, age_z, male, log_enrich)
    cad = mi | _disease(col["u_cad"], _CAD_OTHER, age_z, male, log_enrich)
    cm = _disease(col["u_cm"], _CM, age_z, male, log_enrich)
    dcm = cm & (col["u_cm_type"] < 0.6)
    af = _disease(col["u_af"], _AF, age_z, male, log_enrich)
    hf = _disease(col["u_hf"], _HF, age_z, male, log_enrich + 2.2 * mi + 3.5 * dcm + 1.8 * af + 1.5 * (cm & ~dcm))
    hf_reduced = hf & (col["u_hf_reduced"] < np.where(mi | dcm, 0.85, 0.5))
    htn = _disease(col["u_htn"], _HTN, age_z, male, 0.0)
    rvd = _disease(col["u_rvd"], _RVD, age_z, male, 1.5 * hf + 0.8 * af)
    scd = _disease(col["u_scd"], _SCD, age_z, male, log_enrich + 1.6 * mi + 1.6 * hf + 2.0 * cm)

    # Conduction: LBBB from age and HFrEF / DCM; RBBB and right axis from RV disease.
    lbbb = col["u_lbbb"] < (0.006 + 0.004 * np.clip(age_z, 0, None) + 0.3 * (hf_reduced | dcm))
    rbbb = col["u_rbbb"] < (0.012 + 0.006 * np.clip(age_z, 0, None) + 0.45 * rvd)
    right_axis = col["u_rad"] < (0.01 + 0.55 * rvd)

    territory = np.searchsorted(np.array([0.45, 0.80]), col["mi_territory"], side="right").astype(np.int64)
    # Infarct size: log-normal around 12 % of LV myocardium, clipped to 5-35 %.
    mi_size = np.where(mi, np.clip(0.12 * np.exp(0.5 * z["mi_size"]), 0.05, 0.35), 0.0)

    hr = 62.5 - 2.0 * (male - 0.48) + 9.5 * z["hr"] + 8.0 * af + 6.0 * hf
    hr = np.clip(hr, 42.0, 125.0)

    return Latents(
        subject_id=np.asarray(subject_ids, dtype=np.int64), age_years=age, male=male, hr_bpm=hr,
        mi=mi, mi_territory=territory, mi_size=mi_size, cad=cad, cardiomyopathy=cm, dcm=dcm, af=af,
        hf=hf, hf_reduced=hf_reduced, scd=scd, hypertension=htn, rv_dysfunction=rvd, lbbb=lbbb,
        rbbb=rbbb, right_axis=right_axis, z_lvf_vis=z["z_lvf_vis"], z_rvf_vis=z["z_rvf_vis"],
        z_size_vis=z["z_size_vis"], z_wall_vis=z["z_wall_vis"], height_cm=height, weight_kg=weight,
        z_lvf_hid=z["z_lvf_hid"], z_rvf_hid=z["z_rvf_hid"], z_size_hid=z["z_size_hid"],
        z_wall_hid=z["z_wall_hid"], z_long=z["z_long"], z_rv_size=z["z_rv_size"],
        z_hr_cmr=z["z_hr_cmr"], z_lax=z["z_lax"], z_ef_dz=z["z_ef_dz"],
        z_regional=z["z_regional"], regional_phase=col["regional_phase"],
        z_ejection=z["z_ejection"], z_rv_long=z["z_rv_long"],
        z_shape_a=z["z_shape_a"], z_shape_b=z["z_shape_b"], z_rv_shape=z["z_rv_shape"],
    )


def sample_latents(seed: int, subject_ids: npt.NDArray[np.int64], enrich: float = 1.0) -> Latents:
    """Latent physiology of the given subjects (deterministic by seed and subject id)."""
    u = subject_uniforms(seed, subject_ids, Stream.PHYSIOLOGY, len(UNIFORM_COLUMNS))
    return latents_from_uniforms(np.asarray(subject_ids, dtype=np.int64), u, enrich)


def resample_hidden(seed: int, subject_ids: npt.NDArray[np.int64], enrich: float, draw: int) -> Latents:
    """The same subjects with every HIDDEN variable re-drawn (draw-th Monte Carlo copy).

    ECG-visible variables are unchanged, so averaging phenotypes over draws estimates
    E[phenotype | ECG-visible latents], the best any ECG model can do.
    """
    u = subject_uniforms(seed, subject_ids, Stream.PHYSIOLOGY, len(UNIFORM_COLUMNS))
    rng = np.random.default_rng([int(seed), int(Stream.ORACLE), int(draw)])
    fresh = np.clip(rng.random(u.shape), 1e-12, 1 - 1e-12)
    for i, name in enumerate(UNIFORM_COLUMNS):
        if name in HIDDEN_COLUMNS:
            u[:, i] = fresh[:, i]
    return latents_from_uniforms(np.asarray(subject_ids, dtype=np.int64), u, enrich)

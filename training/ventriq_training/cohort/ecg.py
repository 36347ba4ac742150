"""12-lead ECG from a 3-D cardiac dipole: sums of Gaussians in time per beat, Dower-projected.

The heart's electrical activity is a single moving dipole d(t) in Frank's XYZ frame (X to the
patient's left, Y to the feet, Z to the back). Each wave of each beat (P, septal Q, R, S,
T, plus disease-specific waves) contributes ``a * exp(-(t - mu)^2 / 2 sigma^2)`` with a 3-D
amplitude vector ``a``: the sum-of-Gaussians dipole model of Sameni et al. (IEEE TBME 2007),
which extends McSharry et al.'s ECGSYN (IEEE TBME 2003) to three dimensions. As in ECGSYN, wave
timing follows each beat's RR interval (the T wave by Bazett's square-root law), and RR
intervals carry respiratory and Mayer-wave variability (or are irregular, in AF).

The dipole is projected on the eight independent leads (I, II, V1-V6) with Dower's matrix
(Dower et al., J Electrocardiol 1980); III, aVR, aVL and aVF are derived from I and II, so
Einthoven's and Goldberger's relations hold exactly. Noise is added per *electrode* (RA, LA,
LL, V1-V6) before the leads are formed, as in a real recording, so the relations hold for the
noisy signals as well.

The generator reads only ``Latents.ECG_VISIBLE`` variables: this is what makes the oracle
ceiling in ``calibration.py`` a true upper bound for any ECG model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ventriq_training.cohort.physiology import Latents
from ventriq_training.cohort.randomness import Stream, subject_rng
from ventriq_training.records import limb_leads_from_i_ii

F = npt.NDArray[np.float64]

# Dower et al. 1980: rows I, II, V1..V6; columns Frank X, Y, Z.
DOWER = np.array(
    [
        [0.632, -0.235, 0.059],
        [0.235, 1.066, -0.132],
        [-0.515, 0.157, -0.917],
        [0.044, 0.164, -1.387],
        [0.882, 0.098, -1.277],
        [1.213, 0.127, -0.601],
        [1.125, 0.127, -0.086],
        [0.831, 0.076, 0.230],
    ]
)

# Direction (Frank XYZ) of the initial QRS vector that an infarct's loss of forces leaves,
# pointing away from the territory: LAD anterior -> posterior; RCA inferior -> superior;
# LCx lateral/posterior -> rightward and anterior.
_INFARCT_AWAY = np.array([[0.0, 0.15, 1.0], [0.0, -1.0, 0.1], [-0.8, 0.0, -0.5]])


@dataclass(frozen=True)
class ECGConfig:
    """Recording settings. ``snr_db=None`` draws a per-subject SNR from N(snr_mean_db, 4 dB)."""

    fs_hz: float = 500.0
    duration_s: float = 10.0
    mains_hz: float = 50.0
    snr_db: float | None = None
    snr_mean_db: float = 22.0

    @property
    def n_samples(self) -> int:
        return int(round(self.fs_hz * self.duration_s))


@dataclass(frozen=True)
class Wave:
    """One Gaussian wave of one beat: centre (s), width (s), dipole amplitude vector (mV)."""

    mu: float
    sigma: float
    a: F


@dataclass(frozen=True)
class Morphology:
    """A subject's beat template: everything that does not change from beat to beat."""

    qrs: list[tuple[float, float, F]]  # (centre relative to R, width, amplitude) of QRS and disease waves
    t_amp: float  # mV
    t_dir: F  # unit vector
    st: F | None  # ST-segment deviation vector (mV), if any
    qt_scale: float
    pr: float  # s
    p_amp: float  # mV
    af: bool


def _unit(v: F) -> F:
    return v / np.linalg.norm(v)


def _rr_intervals(rng: np.random.Generator, hr: float, af: bool, total_s: float) -> F:
    """Beat-to-beat RR intervals covering ``total_s`` seconds."""
    mean_rr = 60.0 / hr
    n = int(total_s / mean_rr * 1.6) + 4
    if af:
        # AF: irregularly irregular, no memory (CV ~ 0.2; Tateno & Glass 2001).
        rr = mean_rr * rng.lognormal(-0.02, 0.2, n)
    else:
        k = np.arange(n)
        t = k * mean_rr
        resp_hz = rng.uniform(0.2, 0.3)
        sdnn = rng.uniform(0.02, 0.05)
        hf = np.sin(2 * np.pi * resp_hz * t + rng.uniform(0, 2 * np.pi))
        lf = np.sin(2 * np.pi * rng.uniform(0.08, 0.12) * t + rng.uniform(0, 2 * np.pi))
        rr = mean_rr * (1 + sdnn * (0.7 * hf + 0.7 * lf) + 0.005 * rng.standard_normal(n))
    return np.clip(rr, 0.3, 2.0)


def _morphology(lat: Latents, i: int, rng: np.random.Generator) -> Morphology:
    """A subject's beat template, from its ECG-visible latents (and ECG-only nuisance draws)."""
    male = bool(lat.male[i])
    age_d = float(lat.age_years[i]) - 64.0
    hcm = bool(lat.cardiomyopathy[i] and not lat.dcm[i])
    dcm = bool(lat.dcm[i])

    # QRS voltage tracks LV mass through the ECG-visible size and wall factors, diluted by
    # body habitus (an ECG-only nuisance): this gives the weak voltage-mass correlation
    # (r ~ 0.3) of real data (e.g. Bacharova et al. 2014).
    mass_proxy = np.exp(0.6 * 0.12 * lat.z_wall_vis[i] + 0.8 * 0.14 * lat.z_size_vis[i])
    mass_proxy *= (1.0 + 0.13 * lat.hypertension[i]) * (1.9 if hcm else 1.0) * (1.25 if dcm else 1.0)
    habitus = np.exp(0.22 * rng.standard_normal())
    qrs_mag = 1.45 * mass_proxy * habitus * (1.08 if male else 0.95) * (1.0 - 0.005 * age_d)
    qrs_mag *= 0.85 if lat.hf[i] else 1.0

    # QRS duration: ~95 ms (men +6), wider with poorer LV function; bundle branch blocks.
    qrsd = 0.092 + (0.006 if male else 0.0) - 0.005 * lat.z_lvf_vis[i] + 0.002 * lat.z_size_vis[i]
    qrsd += 0.010 if hcm else 0.0
    qrsd += 0.012 if dcm else 0.0
    if lat.lbbb[i]:
        qrsd = max(qrsd, 0.0) + 0.055
    elif lat.rbbb[i]:
        qrsd = qrsd + 0.035
    widen = max(qrsd, 0.07) / 0.092

    axis_deg = rng.normal(105.0, 12.0) if lat.right_axis[i] else rng.normal(45.0 - 0.3 * age_d, 22.0)
    posterior = rng.normal(0.45, 0.2)
    axis = np.deg2rad(axis_deg)
    r_dir = _unit(np.array([np.cos(axis), np.sin(axis), posterior]))

    waves: list[tuple[float, float, F]] = []  # (mu, sigma, a) relative to the R peak
    if lat.lbbb[i]:
        # No septal q; broad notched R leftward and posterior (QS in V1-V3).
        lb = _unit(np.array([1.0, 0.15, 0.8]))
        waves += [(-0.035 * widen, 0.012 * widen, 0.15 * qrs_mag * _unit(np.array([0.6, 0.1, 0.8])))]
        waves += [(-0.005 * widen, 0.017 * widen, 0.75 * qrs_mag * lb), (0.030 * widen, 0.017 * widen, 0.8 * qrs_mag * lb)]
    else:
        septal = _unit(np.array([-0.6, 0.2, -0.7]))
        waves += [(-0.028 * widen, 0.008 * widen, 0.12 * qrs_mag * septal)]
        waves += [(0.0, 0.011 * widen, qrs_mag * r_dir)]
        s_amp = 0.22 * np.exp(-0.25 * lat.z_rvf_vis[i]) * (1.6 if lat.rv_dysfunction[i] else 1.0)
        s_dir = _unit(np.array([-0.5, -0.5, 0.6 - 0.6 * lat.rv_dysfunction[i]]))
        waves += [(0.026 * widen, 0.010 * widen, s_amp * qrs_mag * s_dir)]
    if lat.rbbb[i]:
        waves += [(0.060 * widen, 0.016 * widen, 0.55 * qrs_mag * _unit(np.array([-0.7, 0.1, -0.75])))]
    # Fragmented QRS with poorer LV function: a small notch within the QRS.
    frag = 0.06 * max(0.0, -float(lat.z_lvf_vis[i])) + (0.12 if dcm else 0.0)
    if frag > 0:
        waves += [(0.012 * widen, 0.005, frag * qrs_mag * _unit(rng.standard_normal(3)))]
    if lat.mi[i]:
        away = _INFARCT_AWAY[int(lat.mi_territory[i])]
        waves += [(-0.018 * widen, 0.013 * widen, (0.25 + 2.8 * lat.mi_size[i]) * away)]

    # T wave: concordant with QRS normally, discordant in LBBB; HCM gives deep lateral inversion.
    t_amp = 0.36 * (1.0 + 0.12 * lat.z_lvf_vis[i]) * (1.1 if male else 1.0) * (1.0 - 0.004 * age_d)
    t_dir = _unit(np.array([0.75, 0.55, -0.35]) + 0.25 * rng.standard_normal(3))
    if lat.lbbb[i]:
        t_dir = -_unit(np.array([1.0, 0.15, 0.8]))
        t_amp *= 1.2
    if hcm:
        t_dir = -_unit(np.array([1.0, 0.3, -0.2]))
        t_amp *= 1.8
    if lat.mi[i]:
        t_dir = _unit(t_dir + 0.9 * _INFARCT_AWAY[int(lat.mi_territory[i])])
    if lat.rbbb[i]:
        t_dir = _unit(t_dir + np.array([0.0, 0.0, 0.6]))
    st: F | None = None
    if lat.cad[i] and rng.random() < 0.5:
        t_amp *= 0.7
        st = -0.07 * _unit(np.array([0.8, 0.4, -0.3]))  # lateral ST depression
    qt_scale = (1.12 if lat.scd[i] else 1.0) * (1.0 + 0.0015 * age_d) * (1.06 if (lat.hf[i] or hcm) else 1.0)

    pr = 0.160 + 0.0006 * age_d + rng.normal(0.0, 0.015)
    p_amp = 0.12 * (1.4 if lat.rv_dysfunction[i] else 1.0) * np.exp(0.15 * rng.standard_normal())
    return Morphology(
        qrs=waves, t_amp=float(t_amp), t_dir=t_dir, st=st, qt_scale=float(qt_scale), pr=float(pr),
        p_amp=float(p_amp), af=bool(lat.af[i]),
    )


def _beat_waves(m: Morphology, r_times: F, rr: F, rng: np.random.Generator) -> list[Wave]:
    """Every wave of every beat, with beat-to-beat jitter and respiratory modulation."""
    comps: list[Wave] = []
    resp_phase = rng.uniform(0, 2 * np.pi)
    resp_hz = rng.uniform(0.2, 0.3)
    for tr, rr_prev in zip(r_times, rr):
        # Respiration rotates the heart a few degrees about the antero-posterior axis and
        # modulates amplitude (electrode-heart distance).
        ang = np.deg2rad(4.0) * np.sin(2 * np.pi * resp_hz * tr + resp_phase)
        rot = np.array([[np.cos(ang), -np.sin(ang), 0], [np.sin(ang), np.cos(ang), 0], [0, 0, 1]])
        gain = 1.0 + 0.04 * np.sin(2 * np.pi * resp_hz * tr + resp_phase + 1.0)
        jitter = rng.normal(0.0, 0.0015)
        for mu, sigma, a in m.qrs:
            comps.append(Wave(tr + mu + jitter, sigma, gain * (rot @ a) * (1 + 0.03 * rng.standard_normal())))
        sq = np.sqrt(np.clip(rr_prev, 0.3, 2.0)) * m.qt_scale
        amp_t = m.t_amp * (1 + 0.03 * rng.standard_normal())
        comps.append(Wave(tr + 0.255 * sq, 0.055 * sq, gain * 0.72 * amp_t * (rot @ m.t_dir)))
        comps.append(Wave(tr + 0.305 * sq, 0.034 * sq, gain * 0.45 * amp_t * (rot @ m.t_dir)))
        if m.st is not None:
            comps.append(Wave(tr + 0.15 * sq, 0.045 * sq, gain * m.st))
        if not m.af:
            # P wave: right atrium first (anterior), then left atrium (posterior).
            comps.append(Wave(tr - m.pr - 0.012, 0.018, m.p_amp * (rot @ _unit(np.array([0.3, 0.7, -0.45])))))
            comps.append(Wave(tr - m.pr + 0.018, 0.018, m.p_amp * (rot @ _unit(np.array([0.65, 0.45, 0.4])))))
    return comps


def _render_dipole(comps: list[Wave], t0: float, fs: float, n: int) -> F:
    """Sum the Gaussian components on the sample grid, each only within +-5 sigma (fast scatter-add)."""
    dipole = np.zeros((3, n))
    mus = np.array([c.mu for c in comps])
    sigmas = np.array([c.sigma for c in comps])
    amps = np.stack([c.a for c in comps])
    for lo, hi in ((0.0, 0.02), (0.02, 1.0)):
        sel = (sigmas >= lo) & (sigmas < hi)
        if not sel.any():
            continue
        half = int(np.ceil(5 * sigmas[sel].max() * fs))
        centre = np.round((mus[sel] - t0) * fs).astype(np.int64)
        idx = centre[:, None] + np.arange(-half, half + 1)[None, :]
        valid = (idx >= 0) & (idx < n)
        t = t0 + idx / fs
        g = np.exp(-0.5 * ((t - mus[sel, None]) / sigmas[sel, None]) ** 2) * valid
        flat = np.where(valid, idx, 0).ravel()
        for axis in range(3):
            w = (g * amps[sel, axis][:, None]).ravel()
            dipole[axis] += np.bincount(flat, weights=w, minlength=n)[:n]
    return dipole


def _af_waves(rng: np.random.Generator, t: F) -> F:
    """Fibrillatory waves: 4-9 Hz, frequency-modulated, strongest in V1 (Stridh & Sornmo 2001)."""
    f0 = rng.uniform(4.5, 8.5)
    amp = rng.uniform(0.03, 0.1)
    phase = 2 * np.pi * f0 * t + 2.0 * np.sin(2 * np.pi * 0.12 * t + rng.uniform(0, 6.3))
    wave = amp * (np.sin(phase) + 0.35 * np.sin(2 * phase + rng.uniform(0, 6.3)))
    direction = _unit(np.array([-0.2, 0.5, -0.85]))
    return direction[:, None] * wave[None, :]


def _electrode_noise(rng: np.random.Generator, cfg: ECGConfig, n: int) -> F:
    """Noise on the 9 electrodes RA, LA, LL, V1..V6 (mV): wander, mains, EMG, electrode motion."""
    t = np.arange(n) / cfg.fs_hz
    noise = np.zeros((9, n))
    for e in range(9):
        # Baseline wander: respiration plus slow drift.
        for _ in range(3):
            f = rng.uniform(0.05, 0.5)
            noise[e] += rng.uniform(0.02, 0.12) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3))
        # Mains interference, electrode-dependent (imbalanced skin impedances).
        noise[e] += rng.uniform(0.0, 0.03) * np.sin(2 * np.pi * cfg.mains_hz * t + rng.uniform(0, 6.3))
        # EMG: broadband, stronger on limb electrodes; differenced white noise is high-pass.
        emg = rng.standard_normal(n + 1)
        noise[e] += rng.uniform(0.004, 0.02) * (1.5 if e < 3 else 1.0) * np.diff(emg)
    # Electrode motion: occasional step with exponential recovery on one electrode.
    if rng.random() < 0.15:
        moved = int(rng.integers(0, 9))
        t_on = rng.uniform(0, cfg.duration_s)
        step = rng.uniform(0.2, 0.8) * rng.choice([-1.0, 1.0])
        after = t >= t_on
        noise[moved] += step * after * np.exp(-np.clip(t - t_on, 0, None) / rng.uniform(0.3, 1.0))
    return noise


def derive_limb_leads(eight: F) -> F:
    """From (8, n) = I, II, V1..V6 to (12, n) in LEADS order, by Einthoven's and Goldberger's laws."""
    out = np.empty((12, eight.shape[1]), dtype=eight.dtype)
    out[0], out[1] = eight[0], eight[1]
    out[2:6] = limb_leads_from_i_ii(eight[0], eight[1])
    out[6:] = eight[2:]
    return out


def synthesize_subject(lat: Latents, i: int, seed: int, cfg: ECGConfig) -> tuple[npt.NDArray[np.float32], F]:
    """One subject's 12-lead ECG (mV, float32, (12, n)) and its R-peak times (s)."""
    rng = subject_rng(seed, int(lat.subject_id[i]), Stream.ECG)
    n = cfg.n_samples
    morph = _morphology(lat, i, rng)
    lead_in = 1.2  # start before the window so the first beat is whole
    rr = _rr_intervals(rng, float(lat.hr_bpm[i]), bool(lat.af[i]), cfg.duration_s + 2 * lead_in)
    r_times = -lead_in + rng.uniform(0, rr[0]) + np.concatenate([[0.0], np.cumsum(rr[:-1])])
    keep = r_times < cfg.duration_s + lead_in
    r_times, rr_prev = r_times[keep], np.concatenate([[rr[0]], rr])[: keep.sum()]
    comps = _beat_waves(morph, r_times, rr_prev, rng)
    dipole = _render_dipole(comps, 0.0, cfg.fs_hz, n)
    t = np.arange(n) / cfg.fs_hz
    if lat.af[i]:
        dipole += _af_waves(rng, t)
    clean = DOWER @ dipole  # (8, n): I, II, V1..V6

    # Electrode noise -> lead noise: I = LA - RA, II = LL - RA, Vk = Vk - Wilson terminal.
    e = _electrode_noise(rng, cfg, n)
    wilson = e[:3].mean(axis=0)
    lead_noise = np.vstack([e[1] - e[0], e[2] - e[0], e[3:] - wilson])
    snr_db = cfg.snr_db if cfg.snr_db is not None else rng.normal(cfg.snr_mean_db, 4.0)
    p_signal = np.mean(np.var(clean, axis=1))
    p_noise = np.mean(np.var(lead_noise, axis=1))
    scale = np.sqrt(p_signal / (p_noise * 10 ** (snr_db / 10.0)))
    eight = clean + scale * lead_noise
    signal: npt.NDArray[np.float32] = derive_limb_leads(eight.astype(np.float32)).astype(np.float32, copy=False)
    return signal, r_times[(r_times >= 0) & (r_times < cfg.duration_s)]


def synthesize_ecgs(lat: Latents, seed: int, cfg: ECGConfig = ECGConfig()) -> npt.NDArray[np.float32]:
    """ECGs of every subject in ``lat``: float32 (N, 12, n_samples) in mV."""
    out = np.empty((len(lat), 12, cfg.n_samples), dtype=np.float32)
    for i in range(len(lat)):
        out[i], _ = synthesize_subject(lat, i, seed, cfg)
    return out

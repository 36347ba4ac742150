"""Checks that keep the cohort's science honest: the ECG ceiling and the CMR information ladder.

1. **ECG ceiling.** The ECG generator reads only ECG-visible latents, so no ECG model can predict a
   phenotype better than E[phenotype | ECG-visible latents]. We estimate that expectation by
   re-drawing every hidden latent ``draws`` times (``physiology.resample_hidden``) and averaging the
   geometric phenotypes; its R2 against the true phenotypes is the oracle ceiling.
2. **Information ladder.** The four CMR views should carry increasingly more phenotype information:
   mid slice < 2D+t < 3D < 4D. We measure it with ridge regression (5-fold cross-validation,
   alpha chosen by inner validation) on simple features of each view: per image of the view, the
   LV blood-pool, LV myocardium and RV blood-pool areas of its segmentation and their logarithms
   (what a segmentation network would extract; independent of contrast and noise settings). The
   score is the mean cross-validated R2 over all nine phenotype labels (voxel counts), reported
   also for the three targets alone.
"""

from __future__ import annotations

import json
from typing import Any
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ventriq_training.cohort.cmr import CMRConfig, render_cine, views, voxel_phenotypes
from ventriq_training.cohort.geometry import build_heart, phenotypes_from_heart
from ventriq_training.cohort.physiology import resample_hidden, sample_latents
from ventriq_training.metrics import r2_score
from ventriq_training.records import LABEL_LV_BLOOD, LABEL_LV_MYOCARDIUM, LABEL_RV_BLOOD, PHENOTYPES, TARGETS

F = npt.NDArray[np.floating[Any]]
VIEW_NAMES: tuple[str, ...] = ("mid_ed", "mid_cine", "ed_stack", "cine_4d")


def ecg_ceiling(seed: int, n: int, draws: int = 16, enrich: float = 1.0) -> dict[str, float]:
    """Oracle R2 of E[phenotype | ECG-visible latents] for every phenotype, plus the target mean."""
    ids = np.arange(n, dtype=np.int64)
    truth = phenotypes_from_heart(build_heart(sample_latents(seed, ids, enrich)))
    acc = {k: np.zeros(n) for k in PHENOTYPES}
    for d in range(draws):
        ph = phenotypes_from_heart(build_heart(resample_hidden(seed, ids, enrich, d)))
        for k in PHENOTYPES:
            acc[k] += ph[k] / draws
    out = {k: r2_score(truth[k], acc[k]) for k in PHENOTYPES}
    out["targets_mean"] = float(np.mean([out[k] for k in TARGETS]))
    return out


def view_features(masks: npt.NDArray[np.generic]) -> F:
    """Per image of a view (last two axes): LV blood, LV myocardium and RV blood areas (pixels),
    and their logarithms: what a segmentation network extracts from that view."""
    flat = masks.reshape(-1, masks.shape[-2], masks.shape[-1])
    areas = np.concatenate(
        [(flat == label).sum(axis=(1, 2)).astype(np.float64) for label in (LABEL_LV_BLOOD, LABEL_LV_MYOCARDIUM, LABEL_RV_BLOOD)]
    )
    return np.concatenate([areas, np.log1p(areas)])


def _ridge_fit_predict(x_tr: F, y_tr: F, x_te: F, alpha: float) -> F:
    mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-9
    a, b = (x_tr - mu) / sd, (x_te - mu) / sd
    ym = y_tr.mean(0)
    w = np.linalg.solve(a.T @ a + alpha * np.eye(a.shape[1]), a.T @ (y_tr - ym))
    return b @ w + ym


def ridge_cv_r2(x: F, y: F, folds: int = 5, alphas: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0, 1000.0)) -> F:
    """Cross-validated R2 per column of y; alpha picked per fold on an inner hold-out."""
    n = len(x)
    order = np.random.default_rng(0).permutation(n)
    pred = np.zeros_like(y)
    for f in range(folds):
        test = order[f::folds]
        train = np.setdiff1d(order, test)
        inner_val, inner_tr = train[::5], np.setdiff1d(train, train[::5])
        best = min(
            alphas,
            key=lambda a: float(np.mean((_ridge_fit_predict(x[inner_tr], y[inner_tr], x[inner_val], a) - y[inner_val]) ** 2)),
        )
        pred[test] = _ridge_fit_predict(x[train], y[train], x[test], best)
    return np.array([r2_score(y[:, j], pred[:, j]) for j in range(y.shape[1])])


@dataclass(frozen=True)
class LadderResult:
    n_subjects: int
    r2: dict[str, dict[str, float]]  # view -> phenotype -> R2 (plus "mean" and "targets_mean")

    def means(self) -> dict[str, float]:
        return {v: self.r2[v]["mean"] for v in VIEW_NAMES}

    def to_json(self) -> str:
        return json.dumps({"n_subjects": self.n_subjects, "r2": self.r2}, indent=2)


def information_ladder(seed: int, n: int, cfg: CMRConfig, enrich: float = 1.0) -> LadderResult:
    """Ridge R2 of simple features of each CMR view, on ``n`` rendered subjects."""
    ids = np.arange(n, dtype=np.int64)
    heart = build_heart(sample_latents(seed, ids, enrich))
    feats: dict[str, list[F]] = {v: [] for v in VIEW_NAMES}
    labels = []
    for i in range(n):
        cine = render_cine(heart.take(i), int(ids[i]), seed, cfg, with_images=False)
        assert cine.masks is not None
        v = views(cine, images=cine.masks)
        feats["mid_ed"].append(view_features(v.mid_ed))
        feats["mid_cine"].append(view_features(v.mid_cine))
        feats["ed_stack"].append(view_features(v.ed_stack))
        feats["cine_4d"].append(view_features(cine.masks))
        labels.append([voxel_phenotypes(cine)[k] for k in PHENOTYPES])
    y = np.asarray(labels)
    y = (y - y.mean(0)) / (y.std(0) + 1e-9)
    out: dict[str, dict[str, float]] = {}
    for view in VIEW_NAMES:
        r2 = ridge_cv_r2(np.asarray(feats[view]), y)
        per = {k: float(r) for k, r in zip(PHENOTYPES, r2)}
        per["mean"] = float(np.mean(r2))
        per["targets_mean"] = float(np.mean([per[k] for k in TARGETS]))
        out[view] = per
    return LadderResult(n_subjects=n, r2=out)

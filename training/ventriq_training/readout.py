"""Linear read-outs on frozen ECG embeddings, folded into plain linear heads.

The encoder is frozen; each task gets a linear model fitted with scikit-learn on standardised
embeddings. After fitting, the feature standardisation (and, for regression, the target
de-standardisation) is folded into a single ``weight``/``bias`` pair acting on the RAW embedding:

- regression:     ``pred = x @ weight.T + bias``           (original units, e.g. %, l/min)
- classification: ``prob = sigmoid(x @ weight.T + bias)``

so the runtime only needs one matrix multiply per head. Rules for model selection, thresholds and
prediction intervals are stated in each function's docstring.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import expit
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import log_loss

from ventriq_training.metrics import auroc, r2_score
from ventriq_training.records import DISEASES, TARGETS

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

DEFAULT_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-3, 3, 13))
"""Ridge penalties searched by ``fit_ridge``: 1e-3 ... 1e3, 13 log-spaced values."""

DEFAULT_CS: tuple[float, ...] = tuple(float(c) for c in np.logspace(-3, 2, 6))
"""Inverse L2 penalties searched by ``fit_logistic``: 1e-3 ... 1e2, 6 log-spaced values."""

STD_EPS = 1e-8
"""Added to every feature's training standard deviation before dividing by it."""


# --------------------------------------------------------------------------------------------------
# Input checks and standardisation
# --------------------------------------------------------------------------------------------------


def _matrix(a: Any, name: str) -> FloatArray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _labels(a: Any, name: str) -> BoolArray:
    arr = np.asarray(a)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape {arr.shape}")
    if arr.dtype != np.bool_:
        if not np.all(np.isin(arr, (0, 1))):
            raise ValueError(f"{name} must be binary (0/1 or bool)")
        arr = arr.astype(bool)
    return arr


def _check_pair(x: np.ndarray, y: np.ndarray, what: str) -> None:
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{what}: embeddings have {x.shape[0]} rows but labels have {y.shape[0]}")


def _names(names: Sequence[str] | None, default: Sequence[str], k: int, prefix: str) -> tuple[str, ...]:
    if names is None:
        names = default if len(default) == k else [f"{prefix}{j}" for j in range(k)]
    if len(names) != k:
        raise ValueError(f"expected {k} names, got {len(names)}")
    return tuple(names)


def _feature_scaler(train_x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Training mean and (standard deviation + ``STD_EPS``) of each feature."""
    return train_x.mean(axis=0), train_x.std(axis=0) + STD_EPS


def _fold(coef: FloatArray, intercept: FloatArray, mean: FloatArray, scale: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Fold ``z = (x - mean) / scale`` into a linear map: ``z @ coef.T + intercept == x @ w.T + b``."""
    w = coef / scale[None, :]
    b = intercept - w @ mean
    return w, b


# --------------------------------------------------------------------------------------------------
# Ridge regression
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RidgeReadout:
    """Folded ridge heads: ``predict(x) = x @ weight.T + bias`` on raw embeddings, original units.

    ``alphas[j]`` is the penalty chosen for target ``j``; ``val_r2[j]`` its validation R²;
    ``val_r2_grid[a, j]`` the validation R² of every searched ``alpha_grid[a]``.
    """

    targets: tuple[str, ...]
    alphas: tuple[float, ...]
    val_r2: tuple[float, ...]
    weight: FloatArray
    bias: FloatArray
    alpha_grid: tuple[float, ...]
    val_r2_grid: FloatArray

    def predict(self, x: Any) -> FloatArray:
        """Predictions ``(n, n_targets)`` in original units from raw embeddings ``(n, dim)``."""
        xx = _matrix(x, "x")
        if xx.shape[1] != self.weight.shape[1]:
            raise ValueError(f"x has {xx.shape[1]} features, the head expects {self.weight.shape[1]}")
        return np.asarray(xx @ self.weight.T + self.bias, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (lists of plain floats) including the folded head."""
        return {
            "kind": "ridge",
            "targets": list(self.targets),
            "alphas": [float(a) for a in self.alphas],
            "val_r2": [float(r) for r in self.val_r2],
            "alpha_grid": [float(a) for a in self.alpha_grid],
            "val_r2_grid": self.val_r2_grid.tolist(),
            "weight": self.weight.tolist(),
            "bias": self.bias.tolist(),
        }


def _choose_alpha(val_r2_column: FloatArray, alphas: Sequence[float]) -> int:
    """Index of the alpha with the highest validation R²; exact ties go to the larger alpha."""
    best = np.max(val_r2_column)
    candidates = [a for a in range(len(alphas)) if val_r2_column[a] == best]
    return max(candidates, key=lambda a: alphas[a])


def fit_ridge(
    train_x: Any,
    train_y: Any,
    val_x: Any,
    val_y: Any,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    targets: Sequence[str] | None = None,
) -> RidgeReadout:
    """Ridge read-out with the penalty chosen PER TARGET by validation R².

    Features are standardised with the training mean and std (+ ``STD_EPS``); each target column is
    standardised with its training mean and std (a zero std is replaced by 1). For every alpha in
    ``alphas``, ``sklearn.linear_model.Ridge(alpha)`` is fitted once on all training targets (ridge
    solves each target independently, so row ``j`` of that fit is the single-target fit). For each
    target the alpha with the highest validation R² is kept (exact ties: the larger alpha) together
    with its coefficients; nothing is refitted (the validation set is not merged into training).
    The standardisations are then folded into ``weight``/``bias`` acting on raw embeddings.

    ``train_y``/``val_y`` are ``(n, n_targets)`` (1-D means one target); ``targets`` names the
    columns (default ``TARGETS`` when there are three). Raises ValueError on NaN inputs, mismatched
    shapes, or a constant validation target (R² undefined).
    """
    tx, ty = _matrix(train_x, "train_x"), _matrix(train_y, "train_y")
    vx, vy = _matrix(val_x, "val_x"), _matrix(val_y, "val_y")
    _check_pair(tx, ty, "train")
    _check_pair(vx, vy, "validation")
    if vx.shape[1] != tx.shape[1] or vy.shape[1] != ty.shape[1]:
        raise ValueError("train and validation arrays must have the same numbers of columns")
    if len(alphas) == 0:
        raise ValueError("alphas must not be empty")
    names = _names(targets, TARGETS, ty.shape[1], "target_")

    x_mean, x_scale = _feature_scaler(tx)
    y_mean, y_std = ty.mean(axis=0), ty.std(axis=0)
    y_scale = np.where(y_std > 0, y_std, 1.0)
    zx_train, zx_val = (tx - x_mean) / x_scale, (vx - x_mean) / x_scale
    zy_train = (ty - y_mean) / y_scale

    coefs = np.empty((len(alphas), ty.shape[1], tx.shape[1]))
    intercepts = np.empty((len(alphas), ty.shape[1]))
    grid = np.empty((len(alphas), ty.shape[1]))
    for a, alpha in enumerate(alphas):
        model = Ridge(alpha=float(alpha)).fit(zx_train, zy_train)
        coefs[a] = np.asarray(model.coef_).reshape(ty.shape[1], tx.shape[1])
        intercepts[a] = np.asarray(model.intercept_).reshape(ty.shape[1])
        val_pred = (zx_val @ coefs[a].T + intercepts[a]) * y_scale + y_mean
        grid[a] = [r2_score(vy[:, j], val_pred[:, j]) for j in range(ty.shape[1])]

    chosen = [_choose_alpha(grid[:, j], alphas) for j in range(ty.shape[1])]
    coef = np.stack([coefs[a, j] for j, a in enumerate(chosen)]) * y_scale[:, None]
    intercept = np.array([intercepts[a, j] for j, a in enumerate(chosen)]) * y_scale + y_mean
    weight, bias = _fold(coef, intercept, x_mean, x_scale)
    return RidgeReadout(
        targets=names,
        alphas=tuple(float(alphas[a]) for a in chosen),
        val_r2=tuple(float(grid[a, j]) for j, a in enumerate(chosen)),
        weight=weight,
        bias=bias,
        alpha_grid=tuple(float(a) for a in alphas),
        val_r2_grid=grid,
    )


# --------------------------------------------------------------------------------------------------
# Logistic regression
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LogisticReadout:
    """Folded logistic heads: ``predict_proba(x) = sigmoid(x @ weight.T + bias)`` on raw embeddings.

    ``Cs[j]`` is the C chosen for disease ``j`` (NaN for a constant head); ``val_auroc[j]`` its
    validation AUROC (NaN when undefined); ``notes`` maps a disease to a sentence explaining any
    fallback used for it (constant head, selection by training log-loss).
    """

    diseases: tuple[str, ...]
    Cs: tuple[float, ...]
    val_auroc: tuple[float, ...]
    weight: FloatArray
    bias: FloatArray
    C_grid: tuple[float, ...]
    notes: dict[str, str] = field(default_factory=dict)

    def logits(self, x: Any) -> FloatArray:
        """Log-odds ``(n, n_diseases)`` from raw embeddings ``(n, dim)``."""
        xx = _matrix(x, "x")
        if xx.shape[1] != self.weight.shape[1]:
            raise ValueError(f"x has {xx.shape[1]} features, the head expects {self.weight.shape[1]}")
        return np.asarray(xx @ self.weight.T + self.bias, dtype=np.float64)

    def predict_proba(self, x: Any) -> FloatArray:
        """Probabilities ``(n, n_diseases)`` of each disease being present."""
        return np.asarray(expit(self.logits(x)), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (NaN as ``float('nan')``) including the folded head and notes."""
        return {
            "kind": "logistic",
            "diseases": list(self.diseases),
            "Cs": [float(c) for c in self.Cs],
            "val_auroc": [float(a) for a in self.val_auroc],
            "C_grid": [float(c) for c in self.C_grid],
            "weight": self.weight.tolist(),
            "bias": self.bias.tolist(),
            "notes": dict(self.notes),
        }


@dataclass(frozen=True)
class _Head:
    coef: FloatArray  # (dim,) on standardised features
    intercept: float
    C: float
    val_auroc: float
    note: str | None


def _constant_head(y: BoolArray, dim: int, name: str) -> _Head:
    """Zero weights and the log-odds of the training prevalence clipped to [0.5/n, 1 - 0.5/n]."""
    n = y.size
    prevalence = float(np.clip(y.mean(), 0.5 / n, 1.0 - 0.5 / n))
    note = (
        f"{name}: training labels have one class ({int(y.sum())} positives of {n}); constant head "
        f"with the log-odds of the clipped prevalence {prevalence:.4g}"
    )
    return _Head(np.zeros(dim), math.log(prevalence / (1.0 - prevalence)), math.nan, math.nan, note)


def _fit_logistic_one(
    zx_train: FloatArray, y_train: BoolArray, zx_val: FloatArray, y_val: BoolArray, Cs: Sequence[float], name: str
) -> _Head:
    if y_train.all() or not y_train.any():
        return _constant_head(y_train, zx_train.shape[1], name)
    fits = []
    for C in Cs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            model = LogisticRegression(C=float(C), class_weight="balanced", max_iter=2000)
            model.fit(zx_train, y_train)
        coef = np.asarray(model.coef_, dtype=np.float64).reshape(-1)
        intercept = float(np.asarray(model.intercept_).reshape(-1)[0])
        fits.append((float(C), coef, intercept))
    val_aucs = [auroc(y_val, zx_val @ coef + b) for _, coef, b in fits]
    if all(math.isnan(a) for a in val_aucs):
        losses = [log_loss(y_train, expit(zx_train @ coef + b), labels=[False, True]) for _, coef, b in fits]
        best = int(np.argmin(losses))  # first minimum = smallest C among ties
        note = (
            f"{name}: validation labels have one class; C={fits[best][0]:g} chosen by training "
            "log-loss instead of validation AUROC"
        )
        return _Head(fits[best][1], fits[best][2], fits[best][0], math.nan, note)
    best = int(np.nanargmax(val_aucs))  # first maximum = smallest C among ties
    return _Head(fits[best][1], fits[best][2], fits[best][0], float(val_aucs[best]), None)


def fit_logistic(
    train_x: Any,
    train_y: Any,
    val_x: Any,
    val_y: Any,
    Cs: Sequence[float] = DEFAULT_CS,
    diseases: Sequence[str] | None = None,
) -> LogisticReadout:
    """One L2 logistic read-out per disease, C chosen by validation AUROC.

    Features are standardised with the training mean and std (+ ``STD_EPS``). For each disease
    (column of ``train_y``, boolean ``(n, n_diseases)``) and each C in ``Cs``,
    ``LogisticRegression(C, class_weight="balanced", max_iter=2000)`` is fitted on training data.
    Selection rule, per disease:

    - the C with the highest validation AUROC wins; ties go to the smaller C (stronger penalty);
    - if the validation labels hold one class (AUROC undefined), the C with the lowest training
      log-loss wins (ties: smaller C), and ``notes[disease]`` says so;
    - if the TRAINING labels hold one class, no model is fitted: the head is constant, weight 0 and
      bias the log-odds of the training prevalence clipped to ``[0.5/n, 1 - 0.5/n]``; ``Cs`` entry
      NaN, and ``notes[disease]`` says so. This never raises (rare diseases, small cohorts).

    The standardisation is folded into ``weight``/``bias`` acting on raw embeddings.
    """
    tx, ty = _matrix(train_x, "train_x"), _labels(train_y, "train_y")
    vx, vy = _matrix(val_x, "val_x"), _labels(val_y, "val_y")
    _check_pair(tx, ty, "train")
    _check_pair(vx, vy, "validation")
    if vx.shape[1] != tx.shape[1] or vy.shape[1] != ty.shape[1]:
        raise ValueError("train and validation arrays must have the same numbers of columns")
    if len(Cs) == 0:
        raise ValueError("Cs must not be empty")
    names = _names(diseases, DISEASES, ty.shape[1], "disease_")
    grid = sorted(float(c) for c in Cs)

    x_mean, x_scale = _feature_scaler(tx)
    zx_train, zx_val = (tx - x_mean) / x_scale, (vx - x_mean) / x_scale
    heads = [_fit_logistic_one(zx_train, ty[:, j], zx_val, vy[:, j], grid, names[j]) for j in range(ty.shape[1])]
    coef = np.stack([h.coef for h in heads])
    intercept = np.array([h.intercept for h in heads], dtype=np.float64)
    weight, bias = _fold(coef, intercept, x_mean, x_scale)
    return LogisticReadout(
        diseases=names,
        Cs=tuple(h.C for h in heads),
        val_auroc=tuple(h.val_auroc for h in heads),
        weight=weight,
        bias=bias,
        C_grid=tuple(grid),
        notes={name: h.note for name, h in zip(names, heads) if h.note is not None},
    )


# --------------------------------------------------------------------------------------------------
# Thresholds and prediction intervals
# --------------------------------------------------------------------------------------------------

FALLBACK_THRESHOLD = 0.5
"""Threshold returned by ``choose_thresholds`` when validation lacks a class or has one distinct score."""


def _youden_threshold(probs: FloatArray, y: BoolArray) -> float:
    levels = np.unique(probs)  # ascending
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0 or levels.size < 2:
        return FALLBACK_THRESHOLD
    # Cut k (k = 1 .. L-1) calls "positive" every score >= levels[k].
    idx = np.searchsorted(levels, probs)
    pos_at = np.bincount(idx[y], minlength=levels.size)
    neg_at = np.bincount(idx[~y], minlength=levels.size)
    tpr = np.cumsum(pos_at[::-1])[::-1][1:] / n_pos
    fpr = np.cumsum(neg_at[::-1])[::-1][1:] / n_neg
    j = tpr - fpr
    k = int(np.flatnonzero(j == j.max())[-1]) + 1  # ties: the highest threshold (fewest positives)
    return float((levels[k - 1] + levels[k]) / 2.0)


MIN_POSITIVES_FOR_THRESHOLD = 5


def choose_thresholds(
    val_probs: Any, val_y: Any, rule: str = "youden", min_positives: int = MIN_POSITIVES_FOR_THRESHOLD
) -> FloatArray:
    """Decision threshold per disease (predict positive when ``prob >= threshold``).

    Rule ``"youden"`` (the only one): among the cuts between consecutive distinct validation scores,
    take the one maximising Youden's J = sensitivity + specificity - 1; ties go to the highest
    threshold (the most specific cut). The threshold returned is the midpoint of the two distinct
    scores around that cut, so on perfectly separated data it lies strictly between the classes.
    Fallback: ``FALLBACK_THRESHOLD`` (0.5, the natural cut of a class-balanced logistic model) when
    the validation labels of a disease hold fewer than ``min_positives`` positives (or negatives):
    a Youden cut on one or two cases is noise (it gave 0.000 for SCD with two validation positives),
    or when its scores are all equal.
    """
    if rule != "youden":
        raise ValueError(f"unknown threshold rule {rule!r}; supported: 'youden'")
    probs, y = _matrix(val_probs, "val_probs"), _labels(val_y, "val_y")
    if probs.shape != y.shape:
        raise ValueError(f"val_probs and val_y shapes differ: {probs.shape} vs {y.shape}")
    out = []
    for j in range(y.shape[1]):
        positives = int(y[:, j].sum())
        if min(positives, len(y) - positives) < min_positives:
            out.append(FALLBACK_THRESHOLD)
        else:
            out.append(_youden_threshold(probs[:, j], y[:, j]))
    return np.array(out, dtype=np.float64)


def conformal_quantiles(
    val_pred: Any, val_y: Any, levels: Sequence[float] = (0.8, 0.95), targets: Sequence[str] | None = None
) -> dict[str, list[float]]:
    """Split-conformal half-widths ``q`` per target so that ``[pred - q, pred + q]`` covers ``level``.

    Scores are absolute validation residuals ``|y - pred|``. For ``n`` residuals and a level, ``q``
    is the empirical quantile at the finite-sample corrected level ``ceil((n + 1) * level) / n``,
    i.e. the ``k``-th smallest residual with ``k = ceil((n + 1) * level)``; this gives coverage
    >= level on exchangeable new data. When ``k > n`` (too few residuals for the level) ``q`` is
    clipped to the largest residual, and the guarantee is then only approximate.

    Returns ``{target: [q for each level, in the order of levels]}`` (``targets`` default to
    ``TARGETS`` when there are three columns).
    """
    pred, y = _matrix(val_pred, "val_pred"), _matrix(val_y, "val_y")
    if pred.shape != y.shape:
        raise ValueError(f"val_pred and val_y shapes differ: {pred.shape} vs {y.shape}")
    if any(not 0.0 < lv < 1.0 for lv in levels):
        raise ValueError(f"levels must lie in (0, 1), got {list(levels)}")
    names = _names(targets, TARGETS, y.shape[1], "target_")
    residuals = np.sort(np.abs(y - pred), axis=0)
    n = residuals.shape[0]
    ranks = [min(n, math.ceil((n + 1) * lv - 1e-9)) for lv in levels]  # 1-based; -1e-9 guards float noise
    return {name: [float(residuals[k - 1, j]) for k in ranks] for j, name in enumerate(names)}

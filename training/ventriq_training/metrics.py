"""Evaluation metrics for the read-outs: R², AUROC, bootstrap confidence intervals, tables, figures.

Conventions:
- Regression arrays are ``(n, len(TARGETS))`` in ``TARGETS`` order; classification arrays are
  ``(n, len(DISEASES))`` in ``DISEASES`` order (scores: probabilities or logits; labels: 0/1 or bool).
- Confidence intervals are percentile-bootstrap intervals over subjects (rows), see ``bootstrap_ci``.
- AUROC is NaN, not an error, when a split holds one class only (rare diseases in small test splits);
  NaN travels through results as ``float("nan")`` and is printed as ``n/a``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata

from ventriq_training.atomic import atomic_output
from ventriq_training.records import DISEASES, TARGETS

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]
MetricFn = Callable[..., float]

TARGET_LABELS: dict[str, str] = {"lvef_pct": "LVEF", "rvef_pct": "RVEF", "co_l_min": "CO"}
"""Short display names of the regression targets."""

DISEASE_LABELS: dict[str, str] = {
    "cad": "CAD",
    "af": "AF",
    "scd": "SCD",
    "hf": "HF",
    "mi": "MI",
    "cardiomyopathy": "Cardiomyopathy",
}
"""Display names of the diseases."""

MEAN_R2 = "mean_r2"
"""Key of the mean-over-targets R² in ``evaluate`` results."""

_CHUNK_ELEMENTS = 2_000_000
"""Bootstrap replicates are computed in row chunks of at most about this many array elements."""


# --------------------------------------------------------------------------------------------------
# Point metrics
# --------------------------------------------------------------------------------------------------


def _finite_1d(a: Any, name: str) -> FloatArray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _same_length(a: np.ndarray, b: np.ndarray, names: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{names} have different lengths: {a.shape[0]} vs {b.shape[0]}")


def r2_score(y: Any, pred: Any) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` (SS_tot about the mean of ``y``).

    Raises ValueError when the inputs are not 1-D, differ in length, contain NaN/inf, or when ``y``
    is constant (SS_tot = 0, R² undefined).
    """
    yy = _finite_1d(y, "y")
    pp = _finite_1d(pred, "pred")
    _same_length(yy, pp, "y and pred")
    ss_tot = float(np.sum((yy - yy.mean()) ** 2))
    if ss_tot == 0.0:
        raise ValueError("y is constant: R² is undefined")
    ss_res = float(np.sum((yy - pp) ** 2))
    return 1.0 - ss_res / ss_tot


def _binary_labels(labels: Any) -> npt.NDArray[np.bool_]:
    lab = np.asarray(labels)
    if lab.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {lab.shape}")
    if lab.dtype != np.bool_:
        values = np.unique(lab)
        if not np.all(np.isin(values, (0, 1))):
            raise ValueError(f"labels must be binary (0/1 or bool), got values {values[:5]}")
        lab = lab.astype(bool)
    return lab


def auroc(labels: Any, scores: Any) -> float:
    """Area under the ROC curve via the Mann-Whitney U statistic with average ranks for ties.

    Equal to ``sklearn.metrics.roc_auc_score``. Returns NaN (no exception) when only one class is
    present: a rare disease can have no positives in a small test split, and callers should report
    the metric as unavailable rather than crash. Raises ValueError on non-binary labels, NaN scores
    or a length mismatch.
    """
    lab = _binary_labels(labels)
    sc = _finite_1d(scores, "scores")
    _same_length(lab, sc, "labels and scores")
    n_pos = int(lab.sum())
    n_neg = lab.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(sc, method="average")
    u = float(ranks[lab].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def mean_r2(y: Any, pred: Any) -> float:
    """Mean over columns of the per-column R² of ``(n, k)`` arrays (``k`` targets)."""
    yy = np.asarray(y, dtype=np.float64)
    pp = np.asarray(pred, dtype=np.float64)
    if yy.ndim != 2 or yy.shape != pp.shape:
        raise ValueError(f"y and pred must be 2-D with equal shapes, got {yy.shape} and {pp.shape}")
    return float(np.mean([r2_score(yy[:, j], pp[:, j]) for j in range(yy.shape[1])]))


# --------------------------------------------------------------------------------------------------
# Batched (vectorised) bootstrap replicates: each takes an index matrix (n_boot, n) of resampled rows
# and returns the metric per resample, NaN where it is undefined.
# --------------------------------------------------------------------------------------------------


def _row_chunks(n_rows: int, width: int) -> list[slice]:
    step = max(1, _CHUNK_ELEMENTS // max(1, width))
    return [slice(s, min(s + step, n_rows)) for s in range(0, n_rows, step)]


def _r2_replicates(y: Any, pred: Any, idx: IndexArray) -> FloatArray:
    yy = np.asarray(y, dtype=np.float64)
    pp = np.asarray(pred, dtype=np.float64)
    out = np.empty(idx.shape[0], dtype=np.float64)
    for sl in _row_chunks(idx.shape[0], idx.shape[1]):
        ys = yy[idx[sl]]
        ss_res = np.sum((ys - pp[idx[sl]]) ** 2, axis=1)
        ss_tot = np.sum((ys - ys.mean(axis=1, keepdims=True)) ** 2, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[sl] = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), np.nan)
    return out


def _mean_r2_replicates(y: Any, pred: Any, idx: IndexArray) -> FloatArray:
    yy = np.asarray(y, dtype=np.float64)
    pp = np.asarray(pred, dtype=np.float64)
    per_target = [_r2_replicates(yy[:, j], pp[:, j], idx) for j in range(yy.shape[1])]
    return np.asarray(np.mean(per_target, axis=0), dtype=np.float64)


def _auroc_replicates(labels: Any, scores: Any, idx: IndexArray) -> FloatArray:
    """AUROC per resample from per-score-level counts of positives and negatives.

    With the distinct scores sorted, U = sum over levels of pos_count * (negatives strictly below +
    half the negatives tied at that level), which is the Mann-Whitney U with average ranks.
    """
    lab = _binary_labels(labels)
    levels, inverse = np.unique(np.asarray(scores, dtype=np.float64), return_inverse=True)
    n_levels = levels.size
    out = np.empty(idx.shape[0], dtype=np.float64)
    for sl in _row_chunks(idx.shape[0], max(idx.shape[1], n_levels)):
        rows = idx[sl]
        b = rows.shape[0]
        flat = inverse[rows] + (np.arange(b) * n_levels)[:, None]
        is_pos = lab[rows]
        pos = np.bincount(flat[is_pos], minlength=b * n_levels).reshape(b, n_levels).astype(np.float64)
        neg = np.bincount(flat[~is_pos], minlength=b * n_levels).reshape(b, n_levels).astype(np.float64)
        neg_below = np.cumsum(neg, axis=1) - neg
        u = np.sum(pos * (neg_below + 0.5 * neg), axis=1)
        pn = pos.sum(axis=1) * neg.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[sl] = np.where(pn > 0, u / np.where(pn > 0, pn, 1.0), np.nan)
    return out


_BATCHED: dict[Callable[..., float], Callable[..., FloatArray]] = {
    r2_score: _r2_replicates,
    mean_r2: _mean_r2_replicates,
    auroc: _auroc_replicates,
}
"""Vectorised replicate functions for the metrics of this module; other metrics are looped."""


# --------------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------------


def resample_indices(n: int, n_boot: int, seed: int) -> IndexArray:
    """Index matrix ``(n_boot, n)`` of subjects drawn with replacement by ``np.random.default_rng(seed)``."""
    if n < 1 or n_boot < 1:
        raise ValueError(f"need n >= 1 and n_boot >= 1, got n={n}, n_boot={n_boot}")
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n), dtype=np.intp)


def _replicates(metric_fn: MetricFn, arrays: tuple[np.ndarray, ...], idx: IndexArray) -> FloatArray:
    batched = _BATCHED.get(metric_fn)
    if batched is not None:
        return batched(*arrays, idx)
    return np.array([metric_fn(*(a[row] for a in arrays)) for row in idx], dtype=np.float64)


def _percentile_interval(replicates: FloatArray, alpha: float) -> tuple[float, float]:
    """Percentile interval of the finite replicates; NaN bounds if fewer than half are finite."""
    valid = replicates[np.isfinite(replicates)]
    if valid.size == 0 or 2 * valid.size < replicates.size:
        return math.nan, math.nan
    lo, hi = np.quantile(valid, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


def _check_rows(arrays: tuple[Any, ...]) -> tuple[np.ndarray, ...]:
    if not arrays:
        raise ValueError("bootstrap_ci needs at least one array")
    arrs = tuple(np.asarray(a) for a in arrays)
    n = arrs[0].shape[0] if arrs[0].ndim else 0
    if n == 0 or any(a.ndim == 0 or a.shape[0] != n for a in arrs):
        raise ValueError(f"arrays must be non-empty with equal numbers of rows, got {[a.shape for a in arrs]}")
    return arrs


def bootstrap_ci(
    metric_fn: MetricFn, *arrays: Any, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float, float]:
    """(point estimate on all rows, lower, upper) of ``metric_fn(*arrays)`` by the percentile bootstrap.

    Subjects (rows, shared by all ``arrays``) are resampled with replacement, ``n_boot`` times, with
    ``np.random.default_rng(seed)`` (see ``resample_indices``). Resamples where the metric is NaN
    (e.g. AUROC of a resample with one class, R² of a resample with constant ``y``) are skipped; the
    bounds are the ``alpha/2`` and ``1 - alpha/2`` quantiles of the remaining replicates, or NaN when
    fewer than half of the resamples gave a value. ``r2_score``, ``mean_r2`` and ``auroc`` are
    computed vectorised over resamples; any other metric is called once per resample.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    arrs = _check_rows(arrays)
    point = float(metric_fn(*arrs))
    idx = resample_indices(arrs[0].shape[0], n_boot, seed)
    lo, hi = _percentile_interval(_replicates(metric_fn, arrs, idx), alpha)
    return point, lo, hi


# --------------------------------------------------------------------------------------------------
# Evaluation of one model
# --------------------------------------------------------------------------------------------------


def _as_2d(a: Any, name: str, k: int) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 2 or arr.shape[1] != k:
        raise ValueError(f"{name} must have shape (n, {k}), got {arr.shape}")
    return arr


def _entry(point: float, replicates: FloatArray, alpha: float, n: int) -> dict[str, Any]:
    lo, hi = _percentile_interval(replicates, alpha)
    return {"value": float(point), "ci_low": lo, "ci_high": hi, "n": int(n)}


def evaluate(
    pred_reg: Any,
    y_reg: Any,
    scores_cls: Any,
    y_cls: Any,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, dict[str, Any]]:
    """R² per target, mean R², and AUROC per disease, each with a percentile-bootstrap CI.

    ``pred_reg``/``y_reg`` are ``(n, len(TARGETS))``, ``scores_cls``/``y_cls`` are ``(n, len(DISEASES))``
    for the same ``n`` test subjects. One index matrix (``resample_indices(n, n_boot, seed)``) is
    shared by every metric, so each entry equals ``bootstrap_ci(metric, ..., n_boot, alpha, seed)``
    and the mean R² of a resample is the mean of the three target R² of that same resample.

    Returns ``{name: {"value", "ci_low", "ci_high", "n"}}`` for each target and for ``"mean_r2"``,
    and ``{disease: {"value", "ci_low", "ci_high", "n", "n_pos"}}`` for each disease; plain Python
    floats/ints (NaN where undefined), so the dict is JSON-serialisable.
    """
    pr = _as_2d(pred_reg, "pred_reg", len(TARGETS)).astype(np.float64)
    yr = _as_2d(y_reg, "y_reg", len(TARGETS)).astype(np.float64)
    sc = _as_2d(scores_cls, "scores_cls", len(DISEASES)).astype(np.float64)
    yc = _as_2d(y_cls, "y_cls", len(DISEASES))
    n = pr.shape[0]
    if not (yr.shape[0] == sc.shape[0] == yc.shape[0] == n):
        raise ValueError("pred_reg, y_reg, scores_cls and y_cls must have the same number of rows")
    idx = resample_indices(n, n_boot, seed)

    out: dict[str, dict[str, Any]] = {}
    points: list[float] = []
    reps: list[FloatArray] = []
    for j, name in enumerate(TARGETS):
        point = r2_score(yr[:, j], pr[:, j])
        rep = _r2_replicates(yr[:, j], pr[:, j], idx)
        out[name] = _entry(point, rep, alpha, n)
        points.append(point)
        reps.append(rep)
    out[MEAN_R2] = _entry(float(np.mean(points)), np.mean(reps, axis=0), alpha, n)
    for j, name in enumerate(DISEASES):
        labels = _binary_labels(yc[:, j])
        entry = _entry(auroc(labels, sc[:, j]), _auroc_replicates(labels, sc[:, j], idx), alpha, n)
        entry["n_pos"] = int(labels.sum())
        out[name] = entry
    return out


# --------------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------------


def _fmt(x: Any) -> str:
    if x is None:
        return "n/a"
    v = float(x)
    return "n/a" if math.isnan(v) else f"{v:.3f}"


def format_cell(entry: Mapping[str, Any] | None) -> str:
    """``"0.612 [0.598, 0.627]"``; ``"n/a"`` for a missing entry or NaN value (NaN bounds print as n/a)."""
    if entry is None or _fmt(entry.get("value")) == "n/a":
        return "n/a"
    return f"{_fmt(entry['value'])} [{_fmt(entry.get('ci_low'))}, {_fmt(entry.get('ci_high'))}]"


def _columns() -> list[tuple[str, str]]:
    cols = [(t, f"{TARGET_LABELS.get(t, t)} R²") for t in TARGETS]
    cols.append((MEAN_R2, "Mean R²"))
    cols += [(d, f"{DISEASE_LABELS.get(d, d)} AUROC") for d in DISEASES]
    return cols


def format_table(results: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """Markdown table: one row per model (keys of ``results``, in order), one column per target R²,
    mean R², and per disease AUROC, each cell ``value [ci_low, ci_high]`` with NaN as ``n/a``."""
    cols = _columns()
    lines = [
        "| Model | " + " | ".join(title for _, title in cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for model, res in results.items():
        cells = [format_cell(res.get(key)) for key, _ in cols]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _bars(
    ax: Any, results: Mapping[str, Mapping[str, Mapping[str, Any]]], keys: list[str], labels: list[str]
) -> None:
    """One group of bars per key, one bar per model, asymmetric CI error bars (NaN drawn as absent)."""
    models = list(results)
    width = 0.8 / max(1, len(models))
    x = np.arange(len(keys), dtype=np.float64)
    for m, model in enumerate(models):
        vals, err_lo, err_hi = [], [], []
        for key in keys:
            e = results[model].get(key) or {}
            v = float(e.get("value", math.nan))
            lo, hi = float(e.get("ci_low", math.nan)), float(e.get("ci_high", math.nan))
            vals.append(0.0 if math.isnan(v) else v)
            err_lo.append(0.0 if math.isnan(v) or math.isnan(lo) else max(0.0, v - lo))
            err_hi.append(0.0 if math.isnan(v) or math.isnan(hi) else max(0.0, hi - v))
        pos = x - 0.4 + width * (m + 0.5)
        ax.bar(pos, vals, width, yerr=[err_lo, err_hi], capsize=2, label=model)
        for p, key in zip(pos, keys):
            e = results[model].get(key) or {}
            if math.isnan(float(e.get("value", math.nan))):
                ax.text(p, 0.02, "n/a", transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=7, rotation=90)
    ax.set_xticks(x)
    ax.set_xticklabels(labels)


def plot_results(results: Mapping[str, Mapping[str, Mapping[str, Any]]], path: str | os.PathLike[str]) -> Path:
    """PNG figure (Agg backend) in the style of the study's Figure 2, written atomically to ``path``.

    Left panel: R² of LVEF, RVEF, CO and their mean, one bar per model with 95 % CI error bars.
    Right panel: AUROC per disease likewise, with the chance line at 0.5. Missing/NaN values are
    drawn as empty bars labelled ``n/a``. The figure goes to a temporary file in the target folder
    that is then ``os.replace``-d onto ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out = Path(path)
    fig = Figure(figsize=(13, 4.5))
    FigureCanvasAgg(fig)
    ax_r2, ax_auc = fig.subplots(1, 2, gridspec_kw={"width_ratios": [4, 6]})
    reg_keys = [*TARGETS, MEAN_R2]
    _bars(ax_r2, results, reg_keys, [TARGET_LABELS.get(t, t) for t in TARGETS] + ["mean"])
    ax_r2.set_ylabel("R² (95 % CI)")
    ax_r2.set_title("Regression of CMR phenotypes")
    ax_r2.axhline(0.0, color="k", lw=0.6)
    _bars(ax_auc, results, list(DISEASES), [DISEASE_LABELS.get(d, d) for d in DISEASES])
    ax_auc.set_ylabel("AUROC (95 % CI)")
    ax_auc.set_title("Classification of prevalent disease")
    ax_auc.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax_auc.set_ylim(0.0, 1.0)
    if results:
        handles, labels = ax_auc.get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", ncol=min(len(labels), 4), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 0.92))

    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return out

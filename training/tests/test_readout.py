"""Linear read-outs: ridge/logistic selection, folded heads, thresholds and conformal intervals."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge

from ventriq_training.metrics import r2_score
from ventriq_training.readout import (
    STD_EPS,
    choose_thresholds,
    conformal_quantiles,
    fit_logistic,
    fit_ridge,
)
from ventriq_training.records import DISEASES, TARGETS

DIM = 16


def _embeddings(n: int, rng: np.random.Generator) -> np.ndarray:
    # Raw embeddings with non-trivial offsets and scales, so that folding matters.
    return rng.normal(size=(n, DIM)) * rng.uniform(0.5, 3.0, size=DIM) + rng.uniform(-2, 2, size=DIM)


def _regression(n: int, seed: int, noise: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = _embeddings(n, rng)
    w = np.random.default_rng(100).normal(size=(DIM, 3))
    y = x @ w * np.array([2.0, 1.5, 0.1]) + np.array([55.0, 50.0, 5.0])
    return x, y + noise * rng.normal(size=y.shape) * y.std(axis=0)


def _standardise(train: np.ndarray, other: np.ndarray) -> np.ndarray:
    return (other - train.mean(axis=0)) / (train.std(axis=0) + STD_EPS)


def test_ridge_recovers_linear_signal_and_folds_exactly() -> None:
    tx, ty = _regression(600, 0)
    vx, vy = _regression(200, 1)
    sx, sy = _regression(300, 2)
    head = fit_ridge(tx, ty, vx, vy)
    assert head.targets == TARGETS and len(head.alphas) == 3
    pred = head.predict(sx)
    assert pred.dtype == np.float64 and pred.shape == (300, 3)
    for j in range(3):
        assert r2_score(sy[:, j], pred[:, j]) > 0.95
        assert head.val_r2[j] > 0.95
        # the sklearn pipeline: standardise X and y, Ridge(chosen alpha), de-standardise
        y_mean, y_std = ty[:, j].mean(), ty[:, j].std()
        model = Ridge(alpha=head.alphas[j]).fit(_standardise(tx, tx), (ty[:, j] - y_mean) / y_std)
        expected = model.predict(_standardise(tx, sx)) * y_std + y_mean
        np.testing.assert_allclose(pred[:, j], expected, rtol=1e-9, atol=1e-9)
    json.dumps(head.to_dict())


def test_ridge_picks_large_alpha_on_noise_features() -> None:
    rng = np.random.default_rng(4)
    tx, vx = rng.normal(size=(60, 40)), rng.normal(size=(200, 40))
    ty, vy = rng.normal(size=(60, 3)), rng.normal(size=(200, 3))
    head = fit_ridge(tx, ty, vx, vy)
    assert all(a >= 100.0 for a in head.alphas), head.alphas
    signal_x, signal_y = _regression(600, 0)
    val_x, val_y = _regression(200, 1)
    assert max(fit_ridge(signal_x, signal_y, val_x, val_y).alphas) < 100.0


def _classification(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = _embeddings(n, rng)
    w = np.random.default_rng(200).normal(size=(DIM, len(DISEASES)))
    logits = (x - x.mean(axis=0)) @ w / 3.0 - 1.5
    y = rng.random(logits.shape) < 1.0 / (1.0 + np.exp(-logits))
    return x, y


def test_logistic_folded_head_matches_sklearn() -> None:
    tx, ty = _classification(500, 0)
    vx, vy = _classification(200, 1)
    sx, _ = _classification(100, 2)
    head = fit_logistic(tx, ty, vx, vy)
    assert head.diseases == DISEASES and head.notes == {}
    probs = head.predict_proba(sx)
    assert probs.dtype == np.float64 and probs.shape == (100, len(DISEASES))
    for j in range(len(DISEASES)):
        assert head.val_auroc[j] > 0.7
        model = LogisticRegression(C=head.Cs[j], class_weight="balanced", max_iter=2000)
        model.fit(_standardise(tx, tx), ty[:, j])
        expected = model.predict_proba(_standardise(tx, sx))[:, 1]
        np.testing.assert_allclose(probs[:, j], expected, rtol=1e-9, atol=1e-12)
    json.dumps(head.to_dict())


def test_logistic_constant_head_for_disease_without_training_positives() -> None:
    tx, ty = _classification(300, 0)
    vx, vy = _classification(100, 1)
    ty[:, 2] = False
    vy[:, 4] = False  # validation without positives: C chosen by training log-loss
    head = fit_logistic(tx, ty, vx, vy)
    assert np.all(head.weight[2] == 0.0)
    assert math.isnan(head.Cs[2]) and math.isnan(head.val_auroc[2])
    assert head.bias[2] == pytest.approx(math.log((0.5 / 300) / (1 - 0.5 / 300)))
    assert "scd" in head.notes and "one class" in head.notes["scd"]
    assert "mi" in head.notes and "log-loss" in head.notes["mi"] and not math.isnan(head.Cs[4])
    probs = head.predict_proba(vx)
    assert np.allclose(probs[:, 2], 0.5 / 300)
    text = json.dumps(head.to_dict())
    assert "constant head" in text


def test_youden_threshold_separates_classes() -> None:
    rng = np.random.default_rng(0)
    y = np.zeros((100, 2), bool)
    y[:30] = True
    probs = np.where(y, rng.uniform(0.6, 0.9, y.shape), rng.uniform(0.1, 0.4, y.shape))
    thr = choose_thresholds(probs, y)
    for j in range(2):
        assert probs[~y[:, j], j].max() < thr[j] < probs[y[:, j], j].min()
    assert np.all((probs >= thr) == y)


def test_youden_threshold_fallback_and_overlap() -> None:
    rng = np.random.default_rng(1)
    y = rng.random((400, 2)) < 0.3
    y[:, 1] = False
    probs = np.clip(0.5 + 0.25 * (y - 0.5) + 0.15 * rng.normal(size=y.shape), 0.0, 1.0)
    thr = choose_thresholds(probs, y)
    assert 0.35 < thr[0] < 0.65
    assert thr[1] == 0.5
    with pytest.raises(ValueError):
        choose_thresholds(probs, y, rule="f1")


def test_conformal_intervals_cover_nominal_levels() -> None:
    rng = np.random.default_rng(0)
    scales = np.array([5.0, 6.0, 0.8])
    val_pred = rng.normal(size=(2000, 3))
    val_y = val_pred + rng.normal(size=(2000, 3)) * scales
    q = conformal_quantiles(val_pred, val_y)
    assert list(q) == list(TARGETS) and all(len(v) == 2 for v in q.values())
    new_pred = rng.normal(size=(20_000, 3))
    new_y = new_pred + rng.normal(size=(20_000, 3)) * scales
    for j, name in enumerate(TARGETS):
        q80, q95 = q[name]
        assert q80 < q95
        assert abs(np.mean(np.abs(new_y[:, j] - new_pred[:, j]) <= q80) - 0.80) < 0.03
        assert abs(np.mean(np.abs(new_y[:, j] - new_pred[:, j]) <= q95) - 0.95) < 0.03


def test_conformal_rank_and_clipping() -> None:
    residuals = np.arange(1.0, 11.0)[:, None]  # n = 10
    q = conformal_quantiles(np.zeros((10, 1)), residuals, levels=(0.8, 0.95), targets=["t"])
    # ceil(11 * 0.8) = 9 -> 9th smallest; ceil(11 * 0.95) = 11 > 10 -> clipped to the maximum
    assert q == {"t": [9.0, 10.0]}


def test_youden_needs_enough_positives() -> None:
    y = np.zeros((200, 1), bool)
    y[:3] = True  # three positives: too few for a meaningful cut
    probs = np.where(y, 0.9, 0.1).astype(float)
    assert choose_thresholds(probs, y)[0] == 0.5
    assert 0.1 < choose_thresholds(probs, y, min_positives=3)[0] < 0.9

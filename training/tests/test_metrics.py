"""Metrics: R², AUROC, bootstrap CIs, evaluate(), the Markdown table and the results figure."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from ventriq_training.metrics import (
    MEAN_R2,
    auroc,
    bootstrap_ci,
    evaluate,
    format_table,
    mean_r2,
    plot_results,
    r2_score,
)
from ventriq_training.records import DISEASES, TARGETS


def test_r2_known_values() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert r2_score(y, y) == 1.0
    assert r2_score(y, np.full(4, y.mean())) == 0.0
    # SS_res = 4 * 1 = 4, SS_tot = 5 -> 1 - 4/5
    assert r2_score(y, y + 1.0) == pytest.approx(0.2)


@pytest.mark.parametrize(
    "y, pred",
    [
        (np.array([1.0, 2.0]), np.array([1.0, 2.0, 3.0])),
        (np.array([1.0, np.nan]), np.array([1.0, 2.0])),
        (np.array([2.0, 2.0, 2.0]), np.array([1.0, 2.0, 3.0])),
    ],
)
def test_r2_rejects_bad_input(y: np.ndarray, pred: np.ndarray) -> None:
    with pytest.raises(ValueError):
        r2_score(y, pred)


def test_auroc_equals_sklearn_with_ties() -> None:
    rng = np.random.default_rng(1)
    for _ in range(5):
        labels = rng.random(300) < 0.3
        scores = np.round(rng.normal(size=300) + labels, 1)  # rounding creates many ties
        assert auroc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_auroc_one_class_is_nan() -> None:
    assert math.isnan(auroc(np.zeros(10, bool), np.arange(10.0)))
    assert math.isnan(auroc(np.ones(10, int), np.arange(10.0)))


def _linear_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    return y, y + rng.normal(scale=0.7, size=n)


def test_bootstrap_contains_point_and_is_deterministic() -> None:
    y, pred = _linear_data(300, 0)
    point, lo, hi = bootstrap_ci(r2_score, y, pred, n_boot=500, seed=3)
    assert point == pytest.approx(r2_score(y, pred))
    assert lo < point < hi
    assert bootstrap_ci(r2_score, y, pred, n_boot=500, seed=3) == (point, lo, hi)
    assert bootstrap_ci(r2_score, y, pred, n_boot=500, seed=4) != (point, lo, hi)


def test_bootstrap_shrinks_with_n() -> None:
    widths = []
    for n in (100, 2000):
        y, pred = _linear_data(n, 5)
        _, lo, hi = bootstrap_ci(r2_score, y, pred, n_boot=400, seed=0)
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2


def test_vectorised_bootstrap_equals_naive_loop() -> None:
    y, pred = _linear_data(40, 2)
    fast = bootstrap_ci(r2_score, y, pred, n_boot=200, seed=7)
    slow = bootstrap_ci(lambda a, b: r2_score(a, b), y, pred, n_boot=200, seed=7)
    assert fast == pytest.approx(slow, abs=1e-12)

    rng = np.random.default_rng(0)
    labels = rng.random(60) < 0.2
    scores = np.round(rng.normal(size=60) + labels, 1)
    fast = bootstrap_ci(auroc, labels, scores, n_boot=200, seed=7)
    slow = bootstrap_ci(lambda a, b: auroc(a, b), labels, scores, n_boot=200, seed=7)
    assert fast == pytest.approx(slow, abs=1e-12)

    yy = np.stack([_linear_data(40, s)[0] for s in range(3)], axis=1)
    pp = yy + rng.normal(size=yy.shape)
    fast = bootstrap_ci(mean_r2, yy, pp, n_boot=100, seed=1)
    slow = bootstrap_ci(lambda a, b: mean_r2(a, b), yy, pp, n_boot=100, seed=1)
    assert fast == pytest.approx(slow, abs=1e-12)


def test_bootstrap_r2_is_fast() -> None:
    y, pred = _linear_data(10_000, 0)
    start = time.perf_counter()
    bootstrap_ci(r2_score, y, pred, n_boot=1000, seed=0)
    assert time.perf_counter() - start < 1.0


def test_bootstrap_skips_nan_resamples() -> None:
    x = np.arange(100.0)  # resample means ~ N(49.5, 2.9)

    def mean_if_above(threshold: float) -> Callable[[np.ndarray], float]:
        return lambda a: float(a.mean()) if a.mean() > threshold else math.nan

    point, lo, hi = bootstrap_ci(mean_if_above(47.0), x, n_boot=400, seed=0)  # ~80 % valid
    assert point == 49.5 and 47.0 < lo < point < hi
    point, lo, hi = bootstrap_ci(mean_if_above(52.0), x, n_boot=400, seed=0)  # ~20 % valid
    assert math.isnan(point) and math.isnan(lo) and math.isnan(hi)

    labels = np.zeros(50, bool)
    labels[:3] = True  # a resample often has no positive: those are skipped
    point, lo, hi = bootstrap_ci(auroc, labels, np.arange(50.0), n_boot=300, seed=0)
    assert not math.isnan(lo) and lo <= point <= hi


def _fake_eval(n: int, seed: int) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(seed)
    y_reg = rng.normal(size=(n, len(TARGETS)))
    pred_reg = y_reg + rng.normal(size=y_reg.shape)
    y_cls = rng.random((n, len(DISEASES))) < 0.2
    y_cls[:, -1] = False  # a disease without positives in the split
    scores = y_cls + rng.normal(size=y_cls.shape)
    return evaluate(pred_reg, y_reg, scores, y_cls, n_boot=200, seed=seed)


def test_evaluate_keys_values_and_json_round_trip() -> None:
    res = _fake_eval(200, 0)
    assert set(res) == {*TARGETS, MEAN_R2, *DISEASES}
    for key in (*TARGETS, MEAN_R2):
        assert set(res[key]) == {"value", "ci_low", "ci_high", "n"}
        assert res[key]["ci_low"] <= res[key]["value"] <= res[key]["ci_high"]
    for d in DISEASES:
        assert set(res[d]) == {"value", "ci_low", "ci_high", "n", "n_pos"}
    assert res[DISEASES[-1]]["n_pos"] == 0 and math.isnan(res[DISEASES[-1]]["value"])
    assert res[MEAN_R2]["value"] == pytest.approx(np.mean([res[t]["value"] for t in TARGETS]))
    back = json.loads(json.dumps(res))
    assert back.keys() == res.keys()
    assert back[TARGETS[0]] == res[TARGETS[0]]
    assert math.isnan(back[DISEASES[-1]]["value"])


def test_evaluate_matches_bootstrap_ci() -> None:
    rng = np.random.default_rng(3)
    y_reg = rng.normal(size=(150, 3))
    pred_reg = y_reg + rng.normal(size=y_reg.shape)
    y_cls = rng.random((150, 6)) < 0.3
    scores = y_cls + rng.normal(size=y_cls.shape)
    res = evaluate(pred_reg, y_reg, scores, y_cls, n_boot=100, seed=9)
    point, lo, hi = bootstrap_ci(r2_score, y_reg[:, 1], pred_reg[:, 1], n_boot=100, seed=9)
    assert (res[TARGETS[1]]["value"], res[TARGETS[1]]["ci_low"], res[TARGETS[1]]["ci_high"]) == pytest.approx((point, lo, hi))
    point, lo, hi = bootstrap_ci(mean_r2, y_reg, pred_reg, n_boot=100, seed=9)
    assert (res[MEAN_R2]["ci_low"], res[MEAN_R2]["ci_high"]) == pytest.approx((lo, hi))
    point, lo, hi = bootstrap_ci(auroc, y_cls[:, 2], scores[:, 2], n_boot=100, seed=9)
    assert (res[DISEASES[2]]["ci_low"], res[DISEASES[2]]["ci_high"]) == pytest.approx((lo, hi))


def test_format_table() -> None:
    results = {"1 ECG only": _fake_eval(120, 1), "2 ECG + demographics": _fake_eval(120, 2)}
    table = format_table(results)
    lines = table.strip().splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("| Model |") and "LVEF R²" in lines[0] and "Mean R²" in lines[0]
    assert lines[2].startswith("| 1 ECG only |")
    assert all(line.count("|") == lines[0].count("|") for line in lines)
    assert "n/a" in lines[2]  # the disease without positives
    v = results["1 ECG only"][TARGETS[0]]
    assert f"{v['value']:.3f} [{v['ci_low']:.3f}, {v['ci_high']:.3f}]" in lines[2]


def test_plot_writes_png_atomically(tmp_path: Path) -> None:
    results = {"1 ECG only": _fake_eval(100, 1), "2 ECG + demographics": _fake_eval(100, 2)}
    out = tmp_path / "figs" / "results.png"
    assert plot_results(results, out) == out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["results.png"]

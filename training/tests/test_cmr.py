"""Rendered cine CMR: ED/ES frames, voxel-count labels against the latent geometry, views, contrast."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import binary_erosion

from ventriq_training.cohort.cmr import CMRConfig, expected_es_frame, render_cine, views, voxel_phenotypes
from ventriq_training.cohort.geometry import Heart, build_heart, phenotypes_from_heart
from ventriq_training.cohort.physiology import sample_latents
from ventriq_training.records import LABEL_LV_BLOOD, LABEL_LV_MYOCARDIUM, PHENOTYPES

SEED = 2025


@pytest.fixture(scope="module")
def hearts() -> tuple[Heart, dict[str, np.ndarray]]:
    heart = build_heart(sample_latents(SEED, np.arange(150), enrich=5.0))
    return heart, phenotypes_from_heart(heart)


def test_es_frame_from_masks_matches_geometry(hearts: tuple[Heart, dict[str, np.ndarray]]) -> None:
    heart, _ = hearts
    diffs = []
    for i in range(150):
        cine = render_cine(heart.take(i), i, SEED, with_images=False)
        diffs.append(cine.es_frame - expected_es_frame(heart.take(i)))
    diffs_a = np.abs(np.array(diffs))
    assert diffs_a.max() <= 1
    assert (diffs_a == 0).mean() >= 0.95


def test_voxel_counts_agree_with_latent_geometry(hearts: tuple[Heart, dict[str, np.ndarray]]) -> None:
    """Voxel-count labels measure the geometry with small error, as a real segmentation would."""
    heart, latent = hearts
    rows = [voxel_phenotypes(render_cine(heart.take(i), i, SEED, with_images=False)) for i in range(150)]
    measured = np.array([[row[k] for k in PHENOTYPES] for row in rows])
    for j, name in enumerate(PHENOTYPES):
        truth = latent[name]
        rel = np.abs(measured[:, j] - truth) / np.abs(truth)
        r = np.corrcoef(measured[:, j], truth)[0, 1]
        assert np.median(rel) < 0.06, (name, np.median(rel))
        assert r > 0.9, (name, r)


def test_cine_shapes_labels_and_determinism(hearts: tuple[Heart, dict[str, np.ndarray]]) -> None:
    heart, _ = hearts
    cfg = CMRConfig(n_slices=8, n_frames=12, size_px=40, pixel_mm=4.5)
    a = render_cine(heart.take(3), 3, SEED, cfg)
    b = render_cine(heart.take(3), 3, SEED, cfg)
    assert a.frames.shape == (8, 12, 40, 40) and a.frames.dtype == np.float32
    assert a.masks is not None and set(np.unique(a.masks)) <= {0, 1, 2, 3}
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.masks, b.masks)
    assert a.frame_interval_ms == pytest.approx(60000.0 / float(heart.hr_cmr_bpm[3]) / 12)
    c = render_cine(heart.take(3), 3, SEED + 1, cfg)
    assert not np.array_equal(a.frames, c.frames)
    with pytest.raises(ValueError):
        render_cine(heart.take(np.arange(2)), 0, SEED, cfg)


def test_views_cut_the_cine(hearts: tuple[Heart, dict[str, np.ndarray]]) -> None:
    heart, _ = hearts
    cine = render_cine(heart.take(0), 0, SEED)
    v = views(cine)
    S, T, H, W = cine.frames.shape
    mid = S // 2
    assert v.mid_ed.shape == (H, W) and np.array_equal(v.mid_ed, cine.frames[mid, 0])
    assert v.mid_cine.shape == (T, H, W) and np.array_equal(v.mid_cine, cine.frames[mid])
    assert v.ed_stack.shape == (S, H, W)
    assert v.ed_es.shape == (2, S, H, W) and np.array_equal(v.ed_es[1], cine.frames[:, cine.es_frame])


def test_bssfp_contrast_blood_about_4_5_times_myocardium(hearts: tuple[Heart, dict[str, np.ndarray]]) -> None:
    heart, _ = hearts
    cine = render_cine(heart.take(1), 1, SEED)
    assert cine.masks is not None
    m = cine.masks[:, 0]
    blood = cine.frames[:, 0][np.stack([binary_erosion(s == LABEL_LV_BLOOD, iterations=2) for s in m])]
    myo = cine.frames[:, 0][m == LABEL_LV_MYOCARDIUM]
    ratio = blood.mean() / np.median(myo)
    assert 3.0 < ratio < 6.0, ratio  # partial volume darkens thin myocardium's edge pixels less than blood


def test_ukbb_protocol_config() -> None:
    cfg = CMRConfig.ukbb()
    assert cfg.n_frames == 50 and cfg.slice_thickness_mm == 8.0 and cfg.slice_spacing_mm == 10.0

"""Training helpers: windowing, recording embeddings, the CMR side of each model, configs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ventriq_training.models.ecg_vit import ECGViT, ECGViTConfig
from ventriq_training.preprocess import PreprocessConfig, preprocess
from ventriq_training.train import CMRSide, TrainConfig, embed_recordings, stack_views, windows


def test_windows_cut_then_preprocess_each() -> None:
    raw = np.random.default_rng(0).standard_normal((4, 12, 5000)).astype(np.float32)
    pre = PreprocessConfig()
    fixed = windows(raw, 2500, pre, None)
    np.testing.assert_array_equal(fixed.numpy(), preprocess(raw[:, :, :2500], pre))
    a = windows(raw, 2500, pre, np.random.default_rng(3))
    b = windows(raw, 2500, pre, np.random.default_rng(3))
    assert torch.equal(a, b) and a.shape == (4, 12, 2500)
    with pytest.raises(ValueError, match="longer than the recordings"):
        windows(raw, 6000, pre, None)


def test_recording_embedding_is_the_mean_over_windows() -> None:
    cfg = ECGViTConfig(window_samples=500, embed_dim=16, depth=1, num_heads=2)
    enc = ECGViT(cfg).eval()
    raw = np.random.default_rng(1).standard_normal((3, 12, 1000)).astype(np.float32)
    pre = PreprocessConfig()
    emb = embed_recordings(enc, raw, pre)
    with torch.no_grad():
        halves = [enc(torch.from_numpy(preprocess(raw[:, :, k * 500 : (k + 1) * 500], pre))).double().numpy() for k in range(2)]
    np.testing.assert_allclose(emb, (halves[0] + halves[1]) / 2, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "model, view_shape, branches",
    [(2, (3, 32, 32), 1), (3, (3, 4, 32, 32), 1), (4, (3, 6, 32, 32), 1), (5, (3, 2, 6, 32, 32), 2)],
)
def test_cmr_side_per_model(model: int, view_shape: tuple[int, ...], branches: int) -> None:
    side = CMRSide(model, 16)
    out = side(torch.randn(*view_shape))
    assert len(out) == branches and all(z.shape == (3, 16) for z in out)


def test_configs_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="cmr_mode"):
        TrainConfig(cmr_mode="frozen")
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=1)
    with pytest.raises(ValueError, match="no CMR side"):
        CMRSide(1, 16)


def test_stack_views_gathers_in_order() -> None:
    out = stack_views(lambda i: np.full((2, 2), i, dtype=np.float32), [3, 1])
    assert out.shape == (2, 2, 2) and out[0, 0, 0] == 3 and out[1, 0, 0] == 1

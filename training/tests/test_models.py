"""ECG ViT, CMR encoders, MAE and the contrastive losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ventriq_training.losses import clip_loss, tcl_loss
from ventriq_training.models.cmr_encoders import ProjectionHead, Slice2DEncoder, SliceTimeEncoder, Stack3DEncoder
from ventriq_training.models.ecg_vit import NAMED_CONFIGS, ECGViT, ECGViTConfig, sincos_2d
from ventriq_training.models.mae import ECGMaskedAutoencoder


@pytest.mark.parametrize("name, tokens", [("tiny", 300), ("compact", 300), ("paper", 600)])
def test_encoder_shapes(name: str, tokens: int) -> None:
    cfg = NAMED_CONFIGS[name]
    assert cfg.n_tokens == tokens
    model = ECGViT(cfg).eval()
    with torch.no_grad():
        out = model.forward_intermediates(torch.randn(1, 12, cfg.window_samples))
    assert out["patch_embed"].shape == (1, tokens, cfg.embed_dim)
    assert out[f"blocks.{cfg.depth - 1}"].shape == (1, tokens, cfg.embed_dim)
    assert out["embedding"].shape == (1, cfg.embed_dim)


def test_tiny_macs_match_the_published_figure() -> None:
    assert NAMED_CONFIGS["tiny"].macs_per_window() == pytest.approx(1.82e9, rel=0.01)


def test_forward_equals_intermediates_and_timm_names() -> None:
    model = ECGViT(NAMED_CONFIGS["compact"]).eval()
    x = torch.randn(3, 12, 2500)
    with torch.no_grad():
        assert torch.equal(model(x), model.forward_intermediates(x)["embedding"])
    names = set(model.state_dict())
    assert {"patch_embed.proj.weight", "pos_embed", "blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias", "blocks.2.mlp.fc2.weight", "fc_norm.weight"} <= names


def test_tokens_are_lead_major() -> None:
    cfg = ECGViTConfig(window_samples=500, embed_dim=16, depth=1, num_heads=2)
    model = ECGViT(cfg).eval()
    x = torch.zeros(1, 12, 500)
    x[0, 3, 100:200] = 1.0  # lead index 3 (aVR), its second time patch
    with torch.no_grad():
        tokens = model.patch_embed(x)[0]
    bias = model.patch_embed.proj.bias
    changed = [k for k in range(cfg.n_tokens) if not torch.allclose(tokens[k], bias)]
    assert changed == [3 * cfg.patches_per_lead + 1]


def test_positional_embedding_starts_as_2d_sincos() -> None:
    cfg = NAMED_CONFIGS["compact"]
    code = sincos_2d(cfg.embed_dim, 12, cfg.patches_per_lead)
    assert code.shape == (cfg.n_tokens, cfg.embed_dim)
    np.testing.assert_allclose(ECGViT(cfg).pos_embed.detach().numpy()[0], code, rtol=1e-6, atol=1e-7)
    # Tokens of the same lead share the lead half of the code; same time patch shares the other half.
    half = cfg.embed_dim // 2
    np.testing.assert_array_equal(code[0, :half], code[1, :half])
    np.testing.assert_array_equal(code[0, half:], code[cfg.patches_per_lead, half:])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"window_samples": 2550}, "does not divide"),
        ({"leads": ("I", "II", "V7")}, "unknown lead names"),
        ({"num_heads": 5}, "does not divide embed_dim"),
        ({"patch_size": 0}, "patch_size"),
        ({"global_pool": "token"}, "global_pool"),
    ],
)
def test_inconsistent_configs_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ECGViTConfig(**kwargs)


def test_config_round_trip_and_missing_fields() -> None:
    cfg = NAMED_CONFIGS["tiny"]
    assert ECGViTConfig.from_dict(cfg.to_dict()) == cfg
    d = cfg.to_dict()
    del d["depth"]
    with pytest.raises(ValueError, match="missing fields \\['depth'\\]"):
        ECGViTConfig.from_dict(d)


def test_wrong_input_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="expects \\(batch, 12, 2500\\)"):
        ECGViT(NAMED_CONFIGS["compact"])(torch.randn(1, 12, 5000))


def test_clip_loss_against_hand_computed_values() -> None:
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # Identical orthonormal pairs at T = 1: each row's CE is log(1 + e^-1).
    assert clip_loss(a, a, 1.0).item() == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-6)
    b = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    # Cosines: a0.b0 = 1/sqrt2, a0.b1 = 0, a1.b0 = 1/sqrt2, a1.b1 = 1; T = 0.5 doubles them.
    s = 1 / math.sqrt(2)
    logits = np.array([[s, 0.0], [s, 1.0]]) / 0.5

    def ce(rows: np.ndarray) -> float:
        return float(np.mean([-r[i] + math.log(np.exp(r).sum()) for i, r in enumerate(rows)]))

    expected = 0.5 * (ce(logits) + ce(logits.T))
    assert clip_loss(a, b, 0.5).item() == pytest.approx(expected, rel=1e-6)
    assert tcl_loss(a, b, a, 0.5).item() == pytest.approx((expected + clip_loss(a, a, 0.5).item() + expected) / 3, rel=1e-6)
    with pytest.raises(ValueError):
        clip_loss(a, torch.zeros(3, 2))
    with pytest.raises(ValueError):
        clip_loss(a, a, 0.0)


def test_mae_masks_the_ratio_and_learns() -> None:
    torch.manual_seed(0)
    cfg = ECGViTConfig(window_samples=500, embed_dim=32, depth=1, num_heads=2)
    mae = ECGMaskedAutoencoder(ECGViT(cfg), decoder_dim=16, decoder_heads=2, mask_ratio=0.8)
    x = torch.sin(torch.linspace(0, 60, 500)).repeat(4, 12, 1) + 0.05 * torch.randn(4, 12, 500)
    g = torch.Generator().manual_seed(1)
    loss0, pred, mask = mae(x, generator=g)
    assert pred.shape == (4, cfg.n_tokens, cfg.patch_size)
    assert torch.all(mask.sum(dim=1) == round(0.8 * cfg.n_tokens))
    opt = torch.optim.AdamW(mae.parameters(), lr=3e-3)
    for _ in range(60):
        loss, _, _ = mae(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * loss0.item()
    with pytest.raises(ValueError):
        ECGMaskedAutoencoder(ECGViT(cfg), mask_ratio=1.0)


def test_cmr_encoders_and_heads() -> None:
    assert Slice2DEncoder()(torch.randn(2, 64, 64)).shape == (2, 96)
    assert SliceTimeEncoder()(torch.randn(2, 8, 64, 64)).shape == (2, 192)
    enc = Stack3DEncoder()
    out = ProjectionHead(enc.feature_dim, 128)(enc(torch.randn(2, 10, 64, 64)))
    assert out.shape == (2, 128)
    out.sum().backward()
    assert all(p.grad is not None for p in enc.parameters())

"""The ECG encoder: a Vision Transformer over per-lead patches (Turgut et al., MMCL-ECG-CMR lineage).

The 12 x T window is cut into patches of one lead x ``patch_size`` samples by a Conv2d with kernel
(1, patch_size) and the same stride, giving ``12 * T / patch_size`` tokens in lead-major order
(lead 0's patches first). One learned positional embedding covers all tokens; it starts as a 2-D
sin-cos code over (lead, time patch). Blocks are pre-norm (LayerNorm eps 1e-6), multi-head
self-attention with a qkv bias, and a GELU MLP (exact erf GELU, PyTorch's default). The
embedding is the mean of the patch tokens followed by a final LayerNorm (``global_pool`` +
``fc_norm`` in the lineage's code).

Everything about the architecture is in ``ECGViTConfig``, which is exported with the weights;
parameter names follow timm (``patch_embed.proj.weight``, ``blocks.N.attn.qkv.weight``, ...).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ventriq_training.records import LEADS


@dataclass(frozen=True)
class ECGViTConfig:
    """Architecture of the ECG encoder. Invalid combinations raise ValueError with the reason."""

    name: str = "compact"
    leads: tuple[str, ...] = LEADS
    window_samples: int = 2500
    fs_hz: float = 500.0
    patch_size: int = 100
    embed_dim: int = 96
    depth: int = 3
    num_heads: int = 3
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    norm_eps: float = 1e-6
    global_pool: str = "avg"

    def __post_init__(self) -> None:
        unknown = [lead for lead in self.leads if lead not in LEADS]
        if unknown:
            raise ValueError(f"ECG encoder config {self.name!r}: unknown lead names {unknown}; known: {list(LEADS)}")
        if len(set(self.leads)) != len(self.leads) or not self.leads:
            raise ValueError(f"ECG encoder config {self.name!r}: leads must be distinct and non-empty, got {self.leads}")
        if self.patch_size < 1 or self.window_samples < self.patch_size:
            raise ValueError(f"ECG encoder config {self.name!r}: patch_size {self.patch_size} must be in [1, window_samples]")
        if self.window_samples % self.patch_size:
            raise ValueError(
                f"ECG encoder config {self.name!r}: patch_size {self.patch_size} does not divide "
                f"window_samples {self.window_samples}"
            )
        if self.embed_dim % self.num_heads:
            raise ValueError(f"ECG encoder config {self.name!r}: num_heads {self.num_heads} does not divide embed_dim {self.embed_dim}")
        if self.embed_dim % 4:
            raise ValueError(f"ECG encoder config {self.name!r}: embed_dim must be a multiple of 4 for the 2-D sin-cos code")
        if self.depth < 1 or self.mlp_ratio <= 0 or self.norm_eps <= 0:
            raise ValueError(f"ECG encoder config {self.name!r}: depth >= 1, mlp_ratio > 0 and norm_eps > 0 required")
        if self.global_pool != "avg":
            raise ValueError(f"ECG encoder config {self.name!r}: only global_pool 'avg' is supported, got {self.global_pool!r}")

    @property
    def n_leads(self) -> int:
        return len(self.leads)

    @property
    def patches_per_lead(self) -> int:
        return self.window_samples // self.patch_size

    @property
    def n_tokens(self) -> int:
        return self.n_leads * self.patches_per_lead

    @property
    def mlp_hidden(self) -> int:
        return int(self.embed_dim * self.mlp_ratio)

    def macs_per_window(self) -> int:
        """Multiply-accumulates of one forward pass (patch embedding, blocks, no heads)."""
        n, d, h = self.n_tokens, self.embed_dim, self.mlp_hidden
        patch = n * self.patch_size * d
        per_block = n * (3 * d * d + d * d + 2 * d * h) + 2 * n * n * d
        return patch + self.depth * per_block

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["leads"] = list(self.leads)
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> ECGViTConfig:
        names = {f.name for f in fields(ECGViTConfig)}
        missing, extra = names - set(d), set(d) - names
        if missing or extra:
            raise ValueError(f"ECG encoder config: missing fields {sorted(missing)}, unknown fields {sorted(extra)}")
        return ECGViTConfig(**{**d, "leads": tuple(d["leads"])})


NAMED_CONFIGS: dict[str, ECGViTConfig] = {
    # The follow-up study's encoder: 10 s at 500 Hz, 600 tokens.
    "paper": ECGViTConfig(name="paper", window_samples=5000, embed_dim=576, depth=12, num_heads=8),
    # Turgut et al.: 5 s at 500 Hz, 300 tokens.
    "tiny": ECGViTConfig(name="tiny", window_samples=2500, embed_dim=384, depth=3, num_heads=6),
    # Ventriq's default: trains all five models on 2 CPU cores; real time on a Cortex-A core.
    "compact": ECGViTConfig(name="compact", window_samples=2500, embed_dim=96, depth=3, num_heads=3),
}


def sincos_2d(embed_dim: int, rows: int, cols: int) -> np.ndarray:
    """2-D sin-cos positional code (MAE's ``get_2d_sincos_pos_embed``), rows = leads, cols = time
    patches; half the channels encode the row, half the column. Returns (rows * cols, embed_dim),
    row-major (all of lead 0's patches first), matching the token order."""
    def one_d(dim: int, pos: np.ndarray) -> np.ndarray:
        omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
        out = np.einsum("m,d->md", pos.reshape(-1).astype(np.float64), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    grid_r, grid_c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    return np.concatenate([one_d(embed_dim // 2, grid_r), one_d(embed_dim // 2, grid_c)], axis=1)


class PatchEmbed(nn.Module):
    def __init__(self, cfg: ECGViTConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(1, cfg.embed_dim, kernel_size=(1, cfg.patch_size), stride=(1, cfg.patch_size))

    def forward(self, x: Tensor) -> Tensor:
        # (B, leads, T) -> (B, D, leads, T/P) -> (B, leads * T/P, D), lead-major.
        return self.proj(x.unsqueeze(1)).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, cfg: ECGViTConfig) -> None:
        super().__init__()
        self.num_heads = cfg.num_heads
        self.head_dim = cfg.embed_dim // cfg.num_heads
        self.qkv = nn.Linear(cfg.embed_dim, 3 * cfg.embed_dim, bias=cfg.qkv_bias)
        self.proj = nn.Linear(cfg.embed_dim, cfg.embed_dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * (self.head_dim**-0.5)
        out = attn.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, cfg: ECGViTConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(cfg.embed_dim, cfg.mlp_hidden)
        self.act = nn.GELU()  # exact erf form
        self.fc2 = nn.Linear(cfg.mlp_hidden, cfg.embed_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, cfg: ECGViTConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.embed_dim, eps=cfg.norm_eps)
        self.attn = Attention(cfg)
        self.norm2 = nn.LayerNorm(cfg.embed_dim, eps=cfg.norm_eps)
        self.mlp = Mlp(cfg)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ECGViT(nn.Module):
    """(B, leads, window_samples) preprocessed ECG -> (B, embed_dim) embedding."""

    def __init__(self, cfg: ECGViTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg)
        pos = torch.from_numpy(sincos_2d(cfg.embed_dim, cfg.n_leads, cfg.patches_per_lead)).float().unsqueeze(0)
        self.pos_embed = nn.Parameter(pos)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.depth)])
        self.fc_norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.norm_eps)
        self.apply(_init_weights)

    def tokens(self, x: Tensor) -> Tensor:
        """Patch embedding plus positional embedding: (B, n_tokens, D)."""
        expected = (self.cfg.n_leads, self.cfg.window_samples)
        if x.ndim != 3 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"ECG encoder {self.cfg.name!r} expects (batch, {expected[0]}, {expected[1]}), got {tuple(x.shape)}")
        return self.patch_embed(x) + self.pos_embed

    def pool(self, x: Tensor) -> Tensor:
        return self.fc_norm(x.mean(dim=1))

    def forward(self, x: Tensor) -> Tensor:
        h = self.tokens(x)
        for block in self.blocks:
            h = block(h)
        return self.pool(h)

    def forward_intermediates(self, x: Tensor) -> dict[str, Tensor]:
        """Every stage the runtime checks against: patch embedding, each block, the embedding."""
        out = {"patch_embed": self.patch_embed(x)}
        h = out["patch_embed"] + self.pos_embed
        for i, block in enumerate(self.blocks):
            h = block(h)
            out[f"blocks.{i}"] = h
        out["embedding"] = self.pool(h)
        return out


def _init_weights(m: nn.Module) -> None:
    # As in MAE/timm: xavier-uniform linear layers, zero biases, unit LayerNorms.
    if isinstance(m, nn.Linear):
        nn.init.xavier_uniform_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Conv2d):
        w = m.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def describe(cfg: ECGViTConfig) -> str:
    model = ECGViT(cfg)
    params = parameter_count(model)
    return (
        f"{cfg.name}: embed {cfg.embed_dim}, depth {cfg.depth}, {cfg.num_heads} heads, input {cfg.n_leads} x "
        f"{cfg.window_samples} ({cfg.window_samples / cfg.fs_hz:g} s), {cfg.n_tokens} tokens, "
        f"{params / 1e6:.2f} M parameters ({math.ceil(params * 4 / 2**20)} MiB float32), "
        f"{cfg.macs_per_window() / 1e6:.0f} M MACs per window"
    )

"""Masked-autoencoder pretraining of the ECG encoder on ECG alone (model 1; He et al. 2022).

A random ``mask_ratio`` of the patch tokens (the lineage used 0.8) is dropped; the encoder's blocks
see only the visible tokens (with their positional embedding); a light decoder sees the encoded
visible tokens plus a learned mask token at every masked position (with its own sin-cos
positional code) and reconstructs each masked patch's samples. The loss is the mean squared
error over masked patches only. Models 2-5 start from this encoder's weights.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ventriq_training.models.ecg_vit import Block, ECGViT, ECGViTConfig, sincos_2d


class ECGMaskedAutoencoder(nn.Module):
    def __init__(self, encoder: ECGViT, decoder_dim: int = 64, decoder_depth: int = 1, decoder_heads: int = 4, mask_ratio: float = 0.8) -> None:
        super().__init__()
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio}")
        cfg = encoder.cfg
        self.encoder = encoder
        self.mask_ratio = mask_ratio
        self.decoder_embed = nn.Linear(cfg.embed_dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        pos = torch.from_numpy(sincos_2d(decoder_dim, cfg.n_leads, cfg.patches_per_lead)).float().unsqueeze(0)
        self.decoder_pos: Tensor
        self.register_buffer("decoder_pos", pos, persistent=False)
        dec_cfg = ECGViTConfig(
            name="mae-decoder", leads=cfg.leads, window_samples=cfg.window_samples, patch_size=cfg.patch_size,
            embed_dim=decoder_dim, depth=decoder_depth, num_heads=decoder_heads,
        )
        self.decoder_blocks = nn.ModuleList([Block(dec_cfg) for _ in range(decoder_depth)])
        self.decoder_norm = nn.LayerNorm(decoder_dim, eps=cfg.norm_eps)
        self.decoder_pred = nn.Linear(decoder_dim, cfg.patch_size)
        nn.init.normal_(self.mask_token, std=0.02)

    def patchify(self, x: Tensor) -> Tensor:
        """(B, leads, T) -> (B, n_tokens, patch_size) in the encoder's token order."""
        b = x.shape[0]
        return x.reshape(b, self.encoder.cfg.n_leads, -1, self.encoder.cfg.patch_size).reshape(b, -1, self.encoder.cfg.patch_size)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Returns (loss, reconstruction (B, n_tokens, patch), mask (B, n_tokens), 1 = masked)."""
        tokens = self.encoder.tokens(x)
        b, n, d = tokens.shape
        keep = max(1, int(round(n * (1.0 - self.mask_ratio))))
        noise = torch.rand(b, n, generator=generator, device=x.device)
        order = noise.argsort(dim=1)
        restore = order.argsort(dim=1)
        visible_idx = order[:, :keep]
        h = torch.gather(tokens, 1, visible_idx.unsqueeze(-1).expand(-1, -1, d))
        for block in self.encoder.blocks:
            h = block(h)
        h = self.decoder_embed(h)
        filler = self.mask_token.expand(b, n - keep, -1)
        full = torch.cat([h, filler], dim=1)
        full = torch.gather(full, 1, restore.unsqueeze(-1).expand(-1, -1, full.shape[-1])) + self.decoder_pos
        for block in self.decoder_blocks:
            full = block(full)
        pred = self.decoder_pred(self.decoder_norm(full))
        mask = torch.ones(b, n, device=x.device)
        mask[:, :keep] = 0
        mask = torch.gather(mask, 1, restore)
        err = ((pred - self.patchify(x)) ** 2).mean(dim=-1)
        loss = (err * mask).sum() / mask.sum()
        return loss, pred, mask

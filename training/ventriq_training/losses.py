"""Contrastive losses: symmetric CLIP (InfoNCE) and the triplet contrastive loss (TCL) of model 5.

``clip_loss(a, b, T)``: L2-normalise both sets of projections, logits = a b^T / T, and average the
cross-entropies of matching rows to columns and columns to rows, the true pair being the diagonal
(Radford et al. 2021; Turgut et al. used T = 0.07-0.1).

``tcl_loss(ecg, ed, es, T)``: the follow-up study's triplet loss over 4-D CMR, the CLIP loss on each
of the three pairs ECG-ED, ECG-ES and ED-ES, weighted 1/3 each.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def clip_loss(a: Tensor, b: Tensor, temperature: float = 0.1) -> Tensor:
    """Symmetric InfoNCE between paired rows of a and b, both (B, dim)."""
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"clip_loss needs two (batch, dim) tensors of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def tcl_loss(ecg: Tensor, ed: Tensor, es: Tensor, temperature: float = 0.1) -> Tensor:
    """Triplet contrastive loss: mean of the CLIP losses on ECG-ED, ECG-ES and ED-ES."""
    return (clip_loss(ecg, ed, temperature) + clip_loss(ecg, es, temperature) + clip_loss(ed, es, temperature)) / 3.0

"""CMR encoders for the four views, and the projection heads into the shared contrastive space.

Small convolutional networks sized for CPU training (the views are 64 x 64 by default):
- ``Slice2DEncoder`` (model 2): the mid-ventricular ED slice, (B, H, W).
- ``SliceTimeEncoder`` (model 3): that slice over the cycle, (B, T, H, W): a shared 2-D CNN per
  frame, then a GRU over frames (its last state and the mean of its outputs).
- ``Stack3DEncoder`` (model 4, and the ED/ES encoders of model 5): a slice stack, (B, S, H, W),
  by a 3-D CNN.
Each returns (B, feature_dim). ``ProjectionHead`` maps any encoder's features (ECG or CMR) to the
shared space (CLIP-style; SimCLR's two-layer MLP).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _conv2d_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _conv3d_block(cin: int, cout: int) -> nn.Sequential:
    # Slices are few (about 10) and 10 mm apart: downsample in-plane only.
    return nn.Sequential(
        nn.Conv3d(cin, cout, (3, 3, 3), stride=(1, 2, 2), padding=1), nn.BatchNorm3d(cout), nn.ReLU(inplace=True)
    )


class Slice2DEncoder(nn.Module):
    """(B, H, W) -> (B, feature_dim)."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64, 96)) -> None:
        super().__init__()
        chans = (1, *widths)
        self.net = nn.Sequential(*[_conv2d_block(a, b) for a, b in zip(chans[:-1], chans[1:])])
        self.feature_dim = widths[-1]

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.unsqueeze(1)).mean(dim=(2, 3))


class SliceTimeEncoder(nn.Module):
    """(B, T, H, W) -> (B, feature_dim): per-frame 2-D CNN, then a GRU over the cycle."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64, 96), hidden: int = 96) -> None:
        super().__init__()
        self.frame = Slice2DEncoder(widths)
        self.temporal = nn.GRU(self.frame.feature_dim, hidden, batch_first=True)
        self.feature_dim = 2 * hidden

    def forward(self, x: Tensor) -> Tensor:
        b, t, h, w = x.shape
        per_frame = self.frame(x.reshape(b * t, h, w)).reshape(b, t, -1)
        out, last = self.temporal(per_frame)
        return torch.cat([out.mean(dim=1), last[-1]], dim=1)


class Stack3DEncoder(nn.Module):
    """(B, S, H, W) -> (B, feature_dim) by a 3-D CNN over (slice, row, column)."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64, 96)) -> None:
        super().__init__()
        chans = (1, *widths)
        self.net = nn.Sequential(*[_conv3d_block(a, b) for a, b in zip(chans[:-1], chans[1:])])
        self.feature_dim = widths[-1]

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.unsqueeze(1)).mean(dim=(2, 3, 4))


class ProjectionHead(nn.Module):
    """Features -> shared contrastive space (Linear, ReLU, Linear)."""

    def __init__(self, in_dim: int, out_dim: int = 128, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

"""Training loops of the five models: MAE pretraining (model 1) and contrastive training (models 2-5).

All five share one ECG encoder architecture and start from model 1's weights, so they differ only
in what the encoder was contrasted with:

| model | contrasted with | CMR encoder | loss |
| --- | --- | --- | --- |
| 1 | nothing (masked autoencoding of ECG) | - | MSE on masked patches |
| 2 | mid-ventricular ED slice | ``Slice2DEncoder`` | CLIP |
| 3 | that slice over the cycle (2D+t) | ``SliceTimeEncoder`` | CLIP |
| 4 | ED multi-slice stack (3D) | ``Stack3DEncoder`` | CLIP |
| 5 | ED and ES stacks (4D) | two ``Stack3DEncoder`` | TCL (ECG-ED, ECG-ES, ED-ES) |

The ECG is cut into windows of the encoder's length at random offsets (augmentation) and each
window is preprocessed on its own, exactly as the runtime will preprocess a window. CMR encoders
are trained jointly by default; ``cmr_mode="pretrained-frozen"`` first pretrains them on CMR alone
(SimCLR-style: two noisy, shifted copies of each view contrasted) and freezes them.
Everything runs on CPU or, when present, CUDA.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from ventriq_training.losses import clip_loss, tcl_loss
from ventriq_training.models.cmr_encoders import ProjectionHead, Slice2DEncoder, SliceTimeEncoder, Stack3DEncoder
from ventriq_training.models.ecg_vit import ECGViT
from ventriq_training.models.mae import ECGMaskedAutoencoder
from ventriq_training.preprocess import PreprocessConfig, preprocess

MODEL_NAMES: dict[int, str] = {
    1: "1 ECG only (MAE)",
    2: "2 CL mid slice ED",
    3: "3 CL mid slice 2D+t",
    4: "4 CL 3D stack ED",
    5: "5 TCL 4D (ED+ES)",
}
MODEL_VIEW: dict[int, str] = {2: "mid_ed", 3: "mid_cine", 4: "ed_stack", 5: "ed_es"}

Log = Callable[[str], None]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by the stages (see the experiment's defaults)."""

    batch_size: int = 64
    mae_epochs: int = 20
    mae_lr: float = 1e-3
    mask_ratio: float = 0.8
    cl_epochs: int = 5
    cl_lr: float = 1e-3
    cmr_lr: float = 1e-3
    weight_decay: float = 0.05
    temperature: float = 0.1
    projection_dim: int = 128
    cmr_mode: str = "joint"  # "joint" or "pretrained-frozen"
    cmr_pretrain_epochs: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.cmr_mode not in ("joint", "pretrained-frozen"):
            raise ValueError(f"cmr_mode must be 'joint' or 'pretrained-frozen', got {self.cmr_mode!r}")
        if self.batch_size < 2:
            raise ValueError("batch_size must be >= 2 (contrastive losses need negatives)")


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def windows(
    raw: npt.NDArray[np.float32], window: int, pre: PreprocessConfig, rng: np.random.Generator | None
) -> Tensor:
    """Cut one window per recording (random offset if rng, else the start) and preprocess each."""
    n_total = raw.shape[-1]
    if window > n_total:
        raise ValueError(f"window {window} longer than the recordings ({n_total} samples)")
    if rng is None:
        starts = np.zeros(len(raw), dtype=np.int64)
    else:
        starts = rng.integers(0, n_total - window + 1, size=len(raw))
    cut = np.stack([r[:, s : s + window] for r, s in zip(raw, starts)])
    return torch.from_numpy(np.ascontiguousarray(preprocess(cut, pre), dtype=np.float32))


def _cosine(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def _optimise(opt: torch.optim.Optimizer, loss: Tensor, sched: torch.optim.lr_scheduler.LRScheduler | None = None) -> float:
    """One optimisation step on ``loss``; returns its value."""
    opt.zero_grad()
    loss.backward()
    opt.step()
    if sched is not None:
        sched.step()
    return float(loss.item())


def _batches(n: int, batch: int, rng: np.random.Generator) -> list[npt.NDArray[np.int64]]:
    order = rng.permutation(n)
    return [order[i : i + batch] for i in range(0, n - batch + 1, batch)]  # drop the ragged tail


def pretrain_mae(encoder: ECGViT, raw: npt.NDArray[np.float32], pre: PreprocessConfig, cfg: TrainConfig, log: Log) -> list[float]:
    """Model 1: masked-autoencoder pretraining on ECG alone; returns the loss per epoch."""
    dev = device()
    mae = ECGMaskedAutoencoder(encoder, mask_ratio=cfg.mask_ratio).to(dev)
    opt = torch.optim.AdamW(mae.parameters(), lr=cfg.mae_lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng([cfg.seed, 1])
    gen = torch.Generator(device=dev).manual_seed(cfg.seed)
    steps = cfg.mae_epochs * (len(raw) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _cosine(s, steps, max(1, steps // 20)))
    history = []
    for epoch in range(cfg.mae_epochs):
        t0, losses = time.perf_counter(), []
        for idx in _batches(len(raw), cfg.batch_size, rng):
            x = windows(raw[idx], encoder.cfg.window_samples, pre, rng).to(dev)
            loss, _, _ = mae(x, generator=gen)
            losses.append(_optimise(opt, loss, sched))
        history.append(float(np.mean(losses)))
        log(f"mae epoch {epoch + 1}/{cfg.mae_epochs}: loss {history[-1]:.4f} ({time.perf_counter() - t0:.0f} s)")
    encoder.to("cpu")
    return history


class CMRSide(nn.Module):
    """The CMR encoder(s) and projection head(s) of one model (5: separate ED and ES branches)."""

    def __init__(self, model: int, projection_dim: int) -> None:
        super().__init__()
        self.model = model
        encoders: list[nn.Module]
        if model == 2:
            encoders = [Slice2DEncoder()]
        elif model == 3:
            encoders = [SliceTimeEncoder()]
        elif model == 4:
            encoders = [Stack3DEncoder()]
        elif model == 5:
            encoders = [Stack3DEncoder(), Stack3DEncoder()]
        else:
            raise ValueError(f"model {model} has no CMR side (models 2-5 do)")
        self.encoders = nn.ModuleList(encoders)
        self.heads = nn.ModuleList([ProjectionHead(int(e.feature_dim), projection_dim) for e in encoders])  # type: ignore[arg-type]

    def branches(self, view: Tensor) -> list[Tensor]:
        """Each branch's input: the view itself, or for model 5 its ED and ES stacks."""
        return [view[:, 0], view[:, 1]] if self.model == 5 else [view]

    def forward(self, view: Tensor) -> list[Tensor]:
        return [h(e(x)) for e, h, x in zip(self.encoders, self.heads, self.branches(view))]


def _augment(view: Tensor, gen: torch.Generator) -> Tensor:
    """CMR-only augmentation for self-supervised pretraining: intensity scale, noise, small shift."""
    b = view.shape[0]
    scale = 1 + 0.1 * torch.randn(b, *([1] * (view.ndim - 1)), generator=gen, device=view.device)
    out = view * scale + 0.03 * torch.randn(view.shape, generator=gen, device=view.device)
    shift = [int(s) for s in torch.randint(-3, 4, (2,), generator=gen)]
    return torch.roll(out, shifts=shift, dims=(-2, -1))


def pretrain_cmr(side: CMRSide, views: npt.NDArray[np.float32], cfg: TrainConfig, log: Log) -> None:
    """Self-supervised CMR pretraining (never sees ECG or targets): two augmented copies, CLIP loss."""
    dev = device()
    side.to(dev).train()
    opt = torch.optim.AdamW(side.parameters(), lr=cfg.cmr_lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng([cfg.seed, 2])
    gen = torch.Generator(device=dev).manual_seed(cfg.seed + 2)
    for epoch in range(cfg.cmr_pretrain_epochs):
        losses = []
        for idx in _batches(len(views), cfg.batch_size, rng):
            v = torch.from_numpy(np.asarray(views[np.sort(idx)], dtype=np.float32)).to(dev)
            za, zb = side(_augment(v, gen)), side(_augment(v, gen))
            loss = torch.stack([clip_loss(a, b, cfg.temperature) for a, b in zip(za, zb)]).mean()
            losses.append(_optimise(opt, loss))
        log(f"cmr pretrain epoch {epoch + 1}/{cfg.cmr_pretrain_epochs}: loss {np.mean(losses):.4f}")


def train_contrastive(
    model: int,
    encoder: ECGViT,
    raw: npt.NDArray[np.float32],
    views: npt.NDArray[np.float32],
    pre: PreprocessConfig,
    cfg: TrainConfig,
    log: Log,
) -> list[float]:
    """Models 2-5: contrast the ECG encoder (initialised by the caller) with a CMR view."""
    dev = device()
    torch.manual_seed(cfg.seed + model)
    side = CMRSide(model, cfg.projection_dim)
    if cfg.cmr_mode == "pretrained-frozen":
        pretrain_cmr(side, views, cfg, log)
        side.requires_grad_(False)
        side.eval()
    ecg_head = ProjectionHead(encoder.cfg.embed_dim, cfg.projection_dim)
    encoder.to(dev).train()
    ecg_head.to(dev)
    side.to(dev)
    groups = [{"params": list(encoder.parameters()) + list(ecg_head.parameters()), "lr": cfg.cl_lr}]
    if cfg.cmr_mode == "joint":
        groups.append({"params": list(side.parameters()), "lr": cfg.cmr_lr})
    opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng([cfg.seed, 10 + model])
    steps = cfg.cl_epochs * (len(raw) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _cosine(s, steps, max(1, steps // 10)))
    history = []
    for epoch in range(cfg.cl_epochs):
        t0, losses = time.perf_counter(), []
        for idx in _batches(len(raw), cfg.batch_size, rng):
            idx = np.sort(idx)  # sorted reads are faster on memory-mapped shards
            x = windows(raw[idx], encoder.cfg.window_samples, pre, rng).to(dev)
            v = torch.from_numpy(np.asarray(views[idx], dtype=np.float32)).to(dev)
            z_ecg = ecg_head(encoder(x))
            z_cmr = side(v)
            loss = tcl_loss(z_ecg, z_cmr[0], z_cmr[1], cfg.temperature) if model == 5 else clip_loss(z_ecg, z_cmr[0], cfg.temperature)
            losses.append(_optimise(opt, loss, sched))
        history.append(float(np.mean(losses)))
        log(f"model {model} epoch {epoch + 1}/{cfg.cl_epochs}: loss {history[-1]:.4f} ({time.perf_counter() - t0:.0f} s)")
    encoder.to("cpu").eval()
    return history


@torch.no_grad()
def embed_recordings(
    encoder: ECGViT, raw: npt.NDArray[np.float32], pre: PreprocessConfig, batch: int = 128
) -> npt.NDArray[np.float64]:
    """Embedding of each recording: the mean over its consecutive non-overlapping windows.

    Read-outs are linear, so a head applied to this mean equals the mean of the head's outputs on
    each window: the runtime scores windows one at a time and averages them per recording.
    """
    encoder.eval()
    w = encoder.cfg.window_samples
    n_windows = raw.shape[-1] // w
    if n_windows < 1:
        raise ValueError(f"recordings of {raw.shape[-1]} samples are shorter than one window ({w})")
    out = np.zeros((len(raw), encoder.cfg.embed_dim))
    for k in range(n_windows):
        for start in range(0, len(raw), batch):
            part = raw[start : start + batch, :, k * w : (k + 1) * w]
            x = torch.from_numpy(np.ascontiguousarray(preprocess(part, pre), dtype=np.float32))
            out[start : start + len(part)] += encoder(x).double().numpy() / n_windows
    return out


def clone_encoder(encoder: ECGViT) -> ECGViT:
    return copy.deepcopy(encoder)


def stack_views(get: Callable[[int], npt.NDArray[np.float32]], ids: Sequence[int] | npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.float32]:
    """Gather one CMR view for the given subjects into a contiguous array."""
    return np.stack([get(int(i)) for i in ids]).astype(np.float32)

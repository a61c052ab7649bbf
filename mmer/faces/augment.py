"""Augmenting face crops for training an expression network: what a webcam frame does to a face.

FER2013's faces are tight, centred, mostly frontal 48×48 crops from the web; the faces the service
reads come from a detector on video (a box a little off, the head a little turned, a darker room,
motion blur, a cheap sensor). Training on the first to read the second needs the difference put in
by hand, per batch and on the CPU's budget, so everything here is one batched tensor operation per
step (one affine resampling for crop, scale, rotation and flip together):

* a random crop-and-scale (a detector's box: shifted up to ``shift`` of the side, scaled by
  ``scale``) with a rotation of up to ``rotate_deg`` and a horizontal flip half the time;
* brightness and contrast (a darker or flatter exposure), a Gaussian blur (focus, motion) and
  sensor noise, each with its own probability;
* random erasing (a hand, glasses, a microphone in front of part of the face).

Inputs and outputs are (N, 1, H, W) float tensors in [0, 1]. A generator makes every batch
reproducible; :data:`NONE` changes nothing, so a test or an ablation can switch each part off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor


@dataclass(frozen=True)
class FaceAugment:
    """Each setting of :func:`augment_faces`; zeros and probabilities of 0 switch a part off."""

    shift: float = 0.08  # the box's centre moves up to this fraction of the side
    scale: tuple[float, float] = (0.9, 1.1)  # the box's side, relative to the crop's
    rotate_deg: float = 15.0
    flip_p: float = 0.5
    brightness: float = 0.25  # added, up to ± this
    contrast: tuple[float, float] = (0.7, 1.3)  # about the image's mean
    blur_p: float = 0.2
    blur_sigma: tuple[float, float] = (0.5, 1.2)  # in pixels of a 48-pixel face
    noise_p: float = 0.2
    noise_std: float = 0.03
    erase_p: float = 0.3
    erase_area: tuple[float, float] = (0.05, 0.2)  # of the image


#: No augmentation at all (identity).
NONE = FaceAugment(shift=0.0, scale=(1.0, 1.0), rotate_deg=0.0, flip_p=0.0, brightness=0.0, contrast=(1.0, 1.0),
                   blur_p=0.0, noise_p=0.0, erase_p=0.0)


def _uniform(n: int, low: float, high: float, g: torch.Generator) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=g)


def _geometry(x: Tensor, cfg: FaceAugment, g: torch.Generator) -> Tensor:
    n = x.shape[0]
    angle = _uniform(n, -cfg.rotate_deg, cfg.rotate_deg, g) * (math.pi / 180.0)
    scale = _uniform(n, *cfg.scale, g)
    flip = torch.where(torch.rand(n, generator=g) < cfg.flip_p, -1.0, 1.0)
    tx, ty = (_uniform(n, -2 * cfg.shift, 2 * cfg.shift, g) for _ in range(2))  # grid units span 2 per side
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], dim=1),
                         torch.stack([sin * flip, cos, ty], dim=1)], dim=1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _blur(x: Tensor, cfg: FaceAugment, g: torch.Generator) -> Tensor:
    chosen = torch.rand(x.shape[0], generator=g) < cfg.blur_p
    if not chosen.any():
        return x
    sigma = _uniform(int(chosen.sum()), *cfg.blur_sigma, g)
    radius = int(math.ceil(3 * cfg.blur_sigma[1]))
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (taps[None, :] / sigma[:, None]) ** 2)
    kernel = kernel / kernel.sum(dim=1, keepdim=True)  # (M, K): one 1-D kernel per chosen image
    part = x[chosen].transpose(0, 1)  # (1, M, H, W): each image its own channel, grouped convolution
    m = part.shape[1]
    part = F.conv2d(F.pad(part, (radius, radius, 0, 0), mode="replicate"), kernel[:, None, None, :], groups=m)
    part = F.conv2d(F.pad(part, (0, 0, radius, radius), mode="replicate"), kernel[:, None, :, None], groups=m)
    out = x.clone()
    out[chosen] = part.transpose(0, 1)
    return out


def _erase(x: Tensor, cfg: FaceAugment, g: torch.Generator) -> Tensor:
    n, _, h, w = x.shape
    chosen = torch.rand(n, generator=g) < cfg.erase_p
    area = _uniform(n, *cfg.erase_area, g) * h * w
    aspect = torch.exp(_uniform(n, math.log(0.5), math.log(2.0), g))
    eh = torch.clamp((area * aspect).sqrt().round(), 1, h).long()
    ew = torch.clamp((area / aspect).sqrt().round(), 1, w).long()
    top = (torch.rand(n, generator=g) * (h - eh + 1)).long()
    left = (torch.rand(n, generator=g) * (w - ew + 1)).long()
    rows = torch.arange(h)[None, :, None]
    cols = torch.arange(w)[None, None, :]
    box = ((rows >= top[:, None, None]) & (rows < (top + eh)[:, None, None])
           & (cols >= left[:, None, None]) & (cols < (left + ew)[:, None, None]) & chosen[:, None, None])
    fill = torch.rand(n, generator=g)[:, None, None].expand(n, h, w)
    out = x.clone()
    out[:, 0][box] = fill[box]
    return out


def augment_faces(x: Tensor, cfg: FaceAugment = FaceAugment(), *, generator: torch.Generator | None = None) -> Tensor:
    """(N, 1, H, W) grey faces in [0, 1] → the same batch as a webcam might have framed and exposed
    it (see the module docstring); ``generator`` makes it reproducible."""
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"expected grey faces (N, 1, H, W), got {tuple(x.shape)}")
    g = generator if generator is not None else torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,))))
    n = x.shape[0]
    out = _geometry(x, cfg, g) if cfg != NONE else x.clone()
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    contrast = _uniform(n, *cfg.contrast, g)[:, None, None, None]
    brightness = _uniform(n, -cfg.brightness, cfg.brightness, g)[:, None, None, None]
    out = (out - mean) * contrast + mean + brightness
    out = _blur(out, cfg, g)
    noisy = (torch.rand(n, generator=g) < cfg.noise_p)[:, None, None, None]
    out = out + noisy * torch.randn(out.shape, generator=g) * cfg.noise_std
    out = _erase(out.clamp(0.0, 1.0), cfg, g)
    return out.clamp(0.0, 1.0)

"""Face-crop augmentation for training an expression network: each part does what it says, and
nothing else, on real FER2013 faces where the corpus is present."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from mmer.faces.augment import NONE, FaceAugment, augment_faces


def _faces(n: int = 16, seed: int = 0) -> torch.Tensor:
    """Smooth synthetic 'faces': a bright oval on a darker ground, left-right asymmetric (a mark on
    one side), so that a flip is visible."""
    g = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, 48), torch.linspace(-1, 1, 48), indexing="ij")
    oval = ((xs / 0.6) ** 2 + (ys / 0.8) ** 2 < 1).float() * 0.5 + 0.2
    mark = ((xs - 0.3) ** 2 + (ys + 0.3) ** 2 < 0.02).float() * 0.3
    base = (oval + mark).clamp(0, 1)
    return (base[None, None] + 0.02 * torch.randn(n, 1, 48, 48, generator=g)).clamp(0, 1)


def test_no_augmentation_changes_nothing() -> None:
    x = _faces()
    assert torch.allclose(augment_faces(x, NONE, generator=torch.Generator().manual_seed(1)), x, atol=1e-6)


def test_the_same_generator_gives_the_same_batch_and_another_a_different_one() -> None:
    x = _faces()
    a = augment_faces(x, generator=torch.Generator().manual_seed(3))
    b = augment_faces(x, generator=torch.Generator().manual_seed(3))
    c = augment_faces(x, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1


def test_a_flip_alone_mirrors_the_face() -> None:
    x = _faces(4)
    flipped = augment_faces(x, replace(NONE, flip_p=1.0), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(flipped, x.flip(-1), atol=1e-5)


def test_geometry_moves_the_face_but_keeps_its_brightness() -> None:
    x = _faces()
    moved = augment_faces(x, replace(NONE, shift=0.08, scale=(0.9, 1.1), rotate_deg=15.0),
                          generator=torch.Generator().manual_seed(0))
    assert (moved - x).abs().mean() > 0.01
    assert torch.allclose(moved.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), atol=0.05)


def test_exposure_blur_noise_and_erasing_each_do_their_part() -> None:
    x = _faces(64)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    darker = augment_faces(x, replace(NONE, brightness=0.3), generator=g())
    assert (darker.mean(dim=(1, 2, 3)) - x.mean(dim=(1, 2, 3))).abs().max() > 0.1
    blurred = augment_faces(x, replace(NONE, blur_p=1.0, blur_sigma=(1.0, 1.0)), generator=g())
    edge = lambda t: (t[..., 1:] - t[..., :-1]).abs().mean()  # noqa: E731
    assert edge(blurred) < 0.8 * edge(x)
    assert torch.allclose(blurred.mean(), x.mean(), atol=0.01)  # a blur moves no light
    noisy = augment_faces(x, replace(NONE, noise_p=1.0, noise_std=0.05), generator=g())
    assert 0.03 < (noisy - x).std() < 0.07
    erased = augment_faces(x, replace(NONE, erase_p=1.0, erase_area=(0.1, 0.1)), generator=g())
    changed = ((erased - x).abs() > 1e-6).float().mean(dim=(1, 2, 3))
    assert ((changed > 0.04) & (changed < 0.16)).float().mean() > 0.9  # about a tenth of each face
    untouched = augment_faces(x, replace(NONE, erase_p=0.0, erase_area=(0.1, 0.1)), generator=g())
    assert torch.allclose(untouched, x, atol=1e-6)


def test_a_wrong_shape_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        augment_faces(torch.zeros(2, 3, 48, 48))


def test_real_faces_stay_faces(shared_data: Path) -> None:
    """On real FER2013 faces the default augmentation keeps each face recognisably itself: each
    augmented face correlates (pixel-wise, after removing brightness and contrast) with its own
    original far more than with the other faces of the batch."""
    from mmer.datasets.fer2013 import load_fer2013

    data = load_fer2013(shared_data, "PublicTest", limit=64)
    x = torch.from_numpy(data.images).float()[:, None] / 255.0
    y = augment_faces(x, FaceAugment(flip_p=0.0), generator=torch.Generator().manual_seed(0))
    def z(t: torch.Tensor) -> torch.Tensor:
        t = t.flatten(1)
        return (t - t.mean(dim=1, keepdim=True)) / (t.std(dim=1, keepdim=True) + 1e-6)

    corr = z(y) @ z(x).T / (48 * 48 - 1)
    own = corr.diagonal()
    others = corr[~torch.eye(len(x), dtype=torch.bool)]
    assert own.mean() > others.mean() + 0.2 and (own > 0.3).float().mean() > 0.8

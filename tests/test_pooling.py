"""Log-linear pooling of the default model's experts."""

from __future__ import annotations

import numpy as np
import pytest

from mmer.pooling import pool, temper


def test_agreeing_experts_are_more_sure_together() -> None:
    face = np.array([0.1, 0.5, 0.1, 0.1, 0.1, 0.1])
    voice = np.array([0.1, 0.4, 0.2, 0.1, 0.1, 0.1])
    out = pool({"face": face, "voice": voice}, {"face": 1.0, "voice": 1.0})
    assert out.probs is not None and out.probs.sum() == pytest.approx(1.0)
    assert int(np.argmax(out.probs)) == 1 and out.probs[1] > 0.5
    assert out.used == ("face", "voice") and out.agree is True


def test_the_product_of_experts_and_its_dominant_expert() -> None:
    face = np.array([0.2, 0.3, 0.1, 0.2, 0.1, 0.1])
    voice = np.array([0.02, 0.02, 0.02, 0.9, 0.02, 0.02])
    out = pool({"face": face, "voice": voice}, {"face": 1.0, "voice": 1.0})
    product = face * voice / (face * voice).sum()
    np.testing.assert_allclose(out.probs, product, rtol=1e-6)
    assert int(np.argmax(out.probs)) == 3 and out.dominant == "voice" and out.agree is False


def test_a_weight_of_zero_silences_an_expert() -> None:
    face = np.array([0.1, 0.5, 0.1, 0.1, 0.1, 0.1])
    voice = np.array([0.02, 0.02, 0.02, 0.9, 0.02, 0.02])
    out = pool({"face": face, "voice": voice}, {"face": 1.0, "voice": 0.0})
    np.testing.assert_allclose(out.probs, face / face.sum(), rtol=1e-6)


def test_a_missing_expert_contributes_nothing() -> None:
    face = np.array([0.1, 0.5, 0.1, 0.1, 0.1, 0.1])
    out = pool({"face": face, "voice": None}, {"face": 1.0, "voice": 1.0})
    np.testing.assert_allclose(out.probs, face, rtol=1e-6)
    assert out.used == ("face",) and out.dominant == "face" and out.agree is None
    nothing = pool({"face": None, "voice": None}, {})
    assert nothing.probs is None and nothing.used == () and nothing.dominant is None


def test_a_zero_probability_does_not_make_the_pool_undefined() -> None:
    face = np.array([0.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    voice = np.array([0.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    out = pool({"face": face, "voice": voice}, {"face": 1.0, "voice": 1.0})
    assert np.isfinite(out.probs).all() and out.probs.sum() == pytest.approx(1.0)


def test_temper_softens_and_sharpens_without_moving_the_argmax() -> None:
    p = np.array([0.6, 0.2, 0.1, 0.05, 0.03, 0.02])
    soft, sharp = temper(p, 2.0), temper(p, 0.5)
    np.testing.assert_allclose(temper(p, 1.0), p, rtol=1e-5)
    assert soft.argmax() == sharp.argmax() == 0 and soft[0] < p[0] < sharp[0]
    np.testing.assert_allclose([soft.sum(), sharp.sum()], 1.0, rtol=1e-6)
    expected = np.sqrt(p) / np.sqrt(p).sum()  # T = 2 is the square root, renormalised
    np.testing.assert_allclose(soft, expected, rtol=1e-5)
    batch = temper(np.stack([p, p[::-1]]), 2.0)
    np.testing.assert_allclose(batch[1], soft[::-1], rtol=1e-5)

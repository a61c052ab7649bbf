"""The voice's confidence: a temperature that grows with how unfamiliar the voice is, the head's
measure of unfamiliarity, and the readings a calibration is fitted on."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmer.voice.calibration import BOUNDS, Calibration, fit_calibration
from mmer.voice.expert import calibrated
from mmer.voice.model import EncoderHead, VoiceNetConfig, build_voice_model
from mmer.voice.train import Readings, RecipeConfig, train_head


def test_the_temperature_grows_with_unfamiliarity_and_stays_within_bounds() -> None:
    c = Calibration(temperature=1.5, slope=2.0, reference=-1.0)
    t = c.temperatures(np.array([-1.0, 0.0, 1.0, 100.0]), 4)
    assert t[0] == pytest.approx(1.5) and t[1] == pytest.approx(1.5 * np.e ** 2)
    assert t[1] < t[2] and t[3] == BOUNDS[1]
    assert np.all(c.temperatures(None, 3) == 1.5)  # a model that cannot say: the base temperature
    assert np.all(Calibration(2.0).temperatures(np.array([5.0, -5.0]), 2) == 2.0)


def test_an_older_config_with_one_temperature_keeps_it() -> None:
    assert Calibration.from_config({"temperature": 10.7}) == Calibration(10.7, 0.0, 0.0)
    new = Calibration(1.2, 0.8, -0.5)
    assert Calibration.from_config({"temperature": 1.2, "calibration": new.to_dict()}) == new


def test_the_fit_trusts_familiar_voices_and_flattens_unfamiliar_ones() -> None:
    """Familiar windows whose logits are right, unfamiliar ones whose logits are noise (as RAVDESS's
    unseen actors and TurEV's words): the fitted slope is positive, familiar answers stay sure,
    unfamiliar ones become nearly uniform, and each is better calibrated than one temperature makes it."""
    rng = np.random.default_rng(0)
    n = 3000
    y_in = rng.integers(0, 6, n)
    z_in = rng.normal(0, 1, (n, 6))
    z_in[np.arange(n), y_in] += 3.0
    y_out = rng.integers(0, 4, n)
    z_out = rng.normal(0, 3, (n, 6))
    d_in, d_out = rng.normal(-1.0, 0.2, n), rng.normal(0.5, 0.2, n)
    groups = [(z_in, d_in, y_in), (z_out, d_out, y_out)]
    c = fit_calibration(groups, reference=-1.0)
    single = fit_calibration(groups, reference=-1.0, with_slope=False)
    assert c.slope > 1.0 and single.slope == 0.0
    p_in, p_out = calibrated(z_in, d_in, c), calibrated(z_out, d_out, c)
    assert p_in.max(axis=1).mean() > 0.7 and p_out.max(axis=1).mean() < 0.3

    def nll(p: np.ndarray, y: np.ndarray) -> float:
        return float(-np.log(p[np.arange(len(y)), y]).mean())

    for z, d, y in groups:
        assert nll(calibrated(z, d, c), y) < nll(calibrated(z, d, single), y)


def test_without_unfamiliarity_only_one_temperature_is_fitted() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 6, 500)
    z = rng.normal(0, 1, (500, 6))
    z[np.arange(500), y] += 2.0
    c = fit_calibration([(z, None, y)], reference=0.0)
    assert c.slope == 0.0 and 0.05 < c.temperature < 50
    assert fit_calibration([], reference=0.0) == Calibration(1.0, 0.0, 0.0)


def test_the_head_measures_how_far_a_voice_lies_outside_its_training_subspace() -> None:
    """Statistics spread along a few directions train the head; new points along those directions
    are familiar, points off them are not; the basis ships with the weights, and a head without a
    subspace (an older model) neither has one nor measures."""
    rng = np.random.default_rng(2)
    dirs = np.linalg.qr(rng.standard_normal((64, 4)))[0].T  # 4 orthonormal directions in 64-d
    x = (rng.standard_normal((600, 4)) * 5) @ dirs + rng.standard_normal((600, 64)) * 0.1
    y = (x @ dirs[0] > 0).astype(np.int64) + 2 * (x @ dirs[1] > 0)
    cfg = RecipeConfig(net=VoiceNetConfig(arch="encoder", input_dim=64, subspace=4))
    head = train_head(x.astype(np.float32), y, cfg)
    basis = head.basis.numpy()
    assert np.allclose(basis @ basis.T, np.eye(4), atol=1e-4)
    near = (rng.standard_normal((50, 4)) * 5) @ dirs + rng.standard_normal((50, 64)) * 0.1
    far = near + rng.standard_normal((50, 64)) * 3
    with torch.inference_mode():
        d_near = head.unfamiliarity(torch.from_numpy(near.astype(np.float32))).numpy()
        d_far = head.unfamiliarity(torch.from_numpy(far.astype(np.float32))).numpy()
    assert d_far.min() > d_near.max()
    again = build_voice_model(head.config)
    again.load_state_dict(head.state_dict(), strict=True)
    assert torch.equal(again.basis, head.basis)
    old = EncoderHead(VoiceNetConfig(arch="encoder", input_dim=64))
    assert "basis" not in old.state_dict() and old.unfamiliarity(torch.zeros(2, 64)) is None


def test_readings_give_each_clip_its_speech_weighted_answer_and_can_leave_actors_out() -> None:
    logits = np.array([[2.0, 0, 0, 0, 0, 0], [0, 2.0, 0, 0, 0, 0], [0, 0, 2.0, 0, 0, 0]])
    r = Readings(logits, np.array([0.0, 0.0, 1.0]), np.array([1.0, 3.0, 2.0]), np.array([0, 0, 2]),
                 np.array([0, 1, 2]), np.array(["a", "b", "c"]))
    probs = r.probabilities(Calibration(1.0))
    each = calibrated(logits, None, Calibration(1.0))
    assert np.allclose(probs[0], (each[0] * 1 + each[1] * 3) / 4)
    assert np.isnan(probs[1]).all() and np.allclose(probs[2], each[2])  # clip 1: no speech heard
    rest = r.without_actors(["a"])
    assert rest.labels.tolist() == [1, 2] and rest.clip.tolist() == [1] and rest.unfamiliarity.tolist() == [1.0]
    both = Readings.join([rest, r])
    assert both.clip.tolist() == [1, 2, 2, 4] and len(both.labels) == 5
    z, d, y = both.windows()
    assert z.shape == (4, 6) and y.tolist() == [2, 0, 0, 2] and d.tolist() == [1.0, 0.0, 0.0, 1.0]

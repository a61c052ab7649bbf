"""`mmer train` / `mmer evaluate` and the seed-named training scripts, from the shell's point of view."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mmer import cli

REPO = Path(__file__).resolve().parents[2]
FAST = ["--epochs", "4", "--dim", "32", "--heads", "2", "--batch-size", "16", "--learning-rate", "1e-3"]


def test_train_then_evaluate(planted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    code = cli.main(["train", "--manifest", str(planted / "manifest.csv"), "--features", str(planted),
                     "-o", str(runs), "--run-id", "cli", *FAST])
    out = capsys.readouterr().out
    assert code == 0
    assert "UAR" in out and str(runs / "cli" / "model") in out
    assert (runs / "cli" / "metrics.json").is_file()

    # Resuming a finished run changes nothing and says so.
    before = (runs / "cli" / "metrics.json").stat().st_mtime_ns
    assert cli.main(["train", "--resume", str(runs / "cli")]) == 0
    assert (runs / "cli" / "metrics.json").stat().st_mtime_ns == before

    code = cli.main(["evaluate", str(runs / "cli"), "--features", str(planted), "--manifest",
                     str(planted / "manifest.csv"), "--split", "test", "--drop", "audio"])
    assert code == 0
    out_dir = runs / "cli" / "evaluation" / "manifest-test-no-audio"
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["dropped_modality"] == "audio" and metrics["split"] == "test"
    assert "ECE" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["train", "--manifest", "missing.csv", "--features", "."], "does not exist"),
    (["train", "--resume", "nowhere"], "not a training run folder"),
    (["train", "--manifest", "{m}", "--features", "{f}", "--folds", "1"], "folds"),
    (["evaluate", "nowhere", "--features", "{f}", "--manifest", "{m}"], "not a directory"),
    (["evaluate", "{f}", "--features", "{f}", "--manifest", "{m}"], "no config.json"),
])
def test_user_mistakes_exit_2_with_one_line(argv: list[str], message: str, planted: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    argv = [a.format(m=planted / "manifest.csv", f=planted) for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_evaluate_refuses_features_from_another_backbone(finished_run, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from mmer.training.sample_features import make_sample_features

    other = tmp_path / "other"
    make_sample_features(other, actors={"ravdess": 2}, clips_per_class=1, video_dim=7, audio_dim=16)
    code = cli.main(["evaluate", str(finished_run.run_dir), "--features", str(other), "--manifest",
                     str(other / "manifest.csv")])
    assert code == 2
    assert "dim 32" in capsys.readouterr().err


@pytest.mark.slow
def test_seed_train2_script_saves_attention_under_training_runs_2(planted: Path, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(REPO / "training" / "train2.py"), "--manifest",
                           str(planted / "manifest.csv"), "--features", str(planted), "--run-id", "seed", *FAST],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "training_runs_2" / "seed" / "attention.jsonl").is_file()

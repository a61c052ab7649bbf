"""Filling the feature cache from face-crop clips and audio tracks, batch by batch.

Decoding runs in threads ahead of the model (PyAV releases the GIL), the model sees whole
batches, and one broken clip fails alone: if a batch cannot be embedded, its clips are retried
one by one so the error lands on the clip that caused it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mmer import media
from mmer.batch import FAILURES_FILE, BatchReport, write_failures
from mmer.datasets import ClipRecord, read_manifest
from mmer.errors import InvalidValue
from mmer.faces.crop import SETTINGS_FILE, crop_settings, read_crop_settings
from mmer.features.base import AudioBackbone, VideoBackbone
from mmer.features.cache import FeatureCache

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".mp3", ".flac", ".m4a", ".ogg")

Loaded = tuple[ClipRecord, np.ndarray | None, str]


def face_clip_path(faces_dir: Path, clip_id: str) -> Path:
    return faces_dir / f"{clip_id}.mp4"


def audio_track_path(audio_dir: Path, clip_id: str) -> Path:
    """The clip's audio file, whichever supported format `mmer audio` wrote it in."""
    for suffix in AUDIO_SUFFIXES:
        path = audio_dir / f"{clip_id}{suffix}"
        if path.is_file():
            return path
    return audio_dir / f"{clip_id}.wav"


def extract_video_features(manifest: Path, faces_dir: Path, root: Path, backbone: VideoBackbone, *,
                           batch_size: int = 8, overwrite: bool = False) -> BatchReport:
    """``root/video_features/<clip_id>.npy`` = backbone features of ``num_frames`` evenly sampled face frames."""
    if not faces_dir.is_dir():
        raise FileNotFoundError(f"face clips folder {faces_dir} does not exist (run `mmer crop` first)")

    def load(record: ClipRecord) -> np.ndarray:
        path = face_clip_path(faces_dir, record.clip_id)
        if not path.is_file():
            raise FileNotFoundError(f"no face clip {path.name} in {faces_dir}")
        return media.sample_frames(path, backbone.num_frames).frames

    # The crop geometry is part of what the features are: a change re-extracts, and checkpoints record it.
    geometry = read_crop_settings(faces_dir)
    if geometry is None:
        log.warning("%s has no %s (not made by `mmer crop`?): the default crop geometry is assumed", faces_dir,
                    SETTINGS_FILE)
        geometry = crop_settings()
    config = {**backbone.config(), "faces": geometry}
    return _extract(read_manifest(manifest), load, backbone.embed, FeatureCache(root, "video"), config,
                    batch_size=batch_size, overwrite=overwrite, expected_dim=backbone.dim)


def extract_audio_features(manifest: Path, audio_dir: Path, root: Path, backbone: AudioBackbone, *,
                           batch_size: int = 8, overwrite: bool = False) -> BatchReport:
    """``root/audio_features/<clip_id>.npy`` = the backbone's vector for the clip's audio track."""
    if not audio_dir.is_dir():
        raise FileNotFoundError(f"audio folder {audio_dir} does not exist (run `mmer audio` first)")

    def load(record: ClipRecord) -> np.ndarray:
        path = audio_track_path(audio_dir, record.clip_id)
        if not path.is_file():
            raise FileNotFoundError(f"no audio track for {record.clip_id} in {audio_dir}")
        wave = media.decode_audio(path, backbone.sample_rate)
        if wave.size == 0:
            raise media.MediaError(f"{path.name}: no audio samples")
        return wave

    return _extract(read_manifest(manifest), load, backbone.embed, FeatureCache(root, "audio"), backbone.config(),
                    batch_size=batch_size, overwrite=overwrite, expected_dim=backbone.dim)


def _extract(records: Sequence[ClipRecord], load: Callable[[ClipRecord], np.ndarray],
             embed: Callable[[list[np.ndarray]], list[np.ndarray]], cache: FeatureCache, config: dict, *,
             batch_size: int, overwrite: bool, expected_dim: int) -> BatchReport:
    if batch_size < 1:
        raise InvalidValue("--batch-size must be at least 1")
    digest = cache.prepare(config)
    done = cache.index()
    report = BatchReport()
    todo = []
    for record in records:
        if not overwrite and done.get(record.clip_id) == digest:
            report.already_done.append(record.clip_id)
        else:
            todo.append(record)
    if report.already_done:
        log.info("%d of %d clips already extracted with these settings; resuming", len(report.already_done),
                 len(records))

    with ThreadPoolExecutor(max_workers=2) as pool, tqdm(total=len(todo), desc=f"{cache.modality} features",
                                                         unit="clip", disable=not todo or None, leave=False) as bar:
        for batch in _prefetched(pool, todo, load, batch_size):
            ready = [(r, x) for r, x, _ in batch if x is not None]
            report.failed.extend((r.clip_id, err) for r, x, err in batch if x is None)
            for (record, _), result in zip(ready, _embed_isolating(embed, [x for _, x in ready]), strict=True):
                try:
                    if isinstance(result, str):
                        raise ValueError(result)
                    if result.shape[-1] != expected_dim:
                        raise ValueError(f"backbone returned shape {result.shape}, expected last dim {expected_dim}")
                    cache.write(record.clip_id, result, digest)
                    report.done.append(record.clip_id)
                except (ValueError, OSError) as exc:
                    report.failed.append((record.clip_id, str(exc)))
            bar.update(len(batch))

    write_failures(cache.folder / FAILURES_FILE, report.failed)
    for clip_id, reason in report.failed:
        log.warning("failed: %s: %s", clip_id, reason)
    return report


def _load_one(load: Callable[[ClipRecord], np.ndarray], record: ClipRecord) -> Loaded:
    try:
        return record, load(record), ""
    except Exception as exc:  # noqa: BLE001 - any per-clip problem is reported, never fatal to the batch
        return record, None, str(exc) or type(exc).__name__


def _prefetched(pool: ThreadPoolExecutor, todo: Sequence[ClipRecord], load: Callable[[ClipRecord], np.ndarray],
                batch_size: int) -> Iterator[list[Loaded]]:
    """Batches of loaded inputs; the next batch decodes while the caller embeds this one."""
    batches = [todo[i:i + batch_size] for i in range(0, len(todo), batch_size)]
    pending: list[Future[Loaded]] | None = None
    for batch in batches:
        submitted = [pool.submit(_load_one, load, r) for r in batch]
        if pending is not None:
            yield [f.result() for f in pending]
        pending = submitted
    if pending is not None:
        yield [f.result() for f in pending]


def _embed_isolating(embed: Callable[[list[np.ndarray]], list[np.ndarray]],
                     inputs: list[np.ndarray]) -> list[np.ndarray | str]:
    """Embed a batch; if that fails, embed clip by clip so only the culprit fails (as an error string)."""
    if not inputs:
        return []
    try:
        return list(embed(inputs))
    except Exception as exc:  # noqa: BLE001
        if len(inputs) == 1:
            return [str(exc) or type(exc).__name__]
        log.debug("batch failed (%s); retrying clip by clip", exc)
    results: list[np.ndarray | str] = []
    for x in inputs:
        results.extend(_embed_isolating(embed, [x]))
    return results

"""Filling the feature cache from the clips (with their face boxes) and audio tracks, batch by batch.

Decoding runs in threads ahead of the model (PyAV releases the GIL), the model sees whole
batches, and one broken clip fails alone: if a batch cannot be embedded, its clips are retried
one by one so the error lands on the clip that caused it.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mmer import media
from mmer.batch import FAILURES_FILE, BatchReport, write_failures
from mmer.datasets import ClipRecord, read_manifest
from mmer.errors import InvalidValue
from mmer.faces.boxes import read_boxes
from mmer.faces.crop import NoFaceFound
from mmer.faces.recipe import DEFAULT_MARGIN, DEFAULT_SIZE, FaceRecipe
from mmer.features.base import AudioBackbone, VideoBackbone
from mmer.features.cache import FeatureCache
from mmer.windows import RecordedBoxes, read_windows

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".mp3", ".flac", ".m4a", ".ogg")

Loaded = tuple[ClipRecord, np.ndarray | None, str]


def audio_track_path(audio_dir: Path, clip_id: str) -> Path:
    """The clip's audio file, whichever supported format `mmer audio` wrote it in."""
    for suffix in AUDIO_SUFFIXES:
        path = audio_dir / f"{clip_id}{suffix}"
        if path.is_file():
            return path
    return audio_dir / f"{clip_id}.wav"


def boxing_record(records: Sequence[ClipRecord], boxes_dir: Path) -> dict[str, Any]:
    """How the clips' faces were boxed, from their box files: one record for the whole run. Box
    files made two ways (another detector, stride or smoothing) are refused: features from them
    would disagree with each other and with the one record the checkpoint keeps."""
    seen: dict[str, list[str]] = {}
    for record in records:
        path = boxes_dir / f"{record.clip_id}.json"
        if not path.is_file():
            continue  # reported for that clip when it is loaded
        try:
            boxing = FaceRecipe.from_dict(read_boxes(path)).boxing()
        except ValueError:
            continue  # a damaged file fails its own clip, with its reason
        seen.setdefault(json.dumps(boxing, sort_keys=True), []).append(record.clip_id)
    if not seen:
        return FaceRecipe().boxing()
    if len(seen) > 1:
        kinds = "; ".join(f"{len(ids)} clip(s) such as {ids[0]} with {text}" for text, ids in seen.items())
        raise InvalidValue(f"the box files in {boxes_dir} were made in {len(seen)} different ways ({kinds}); "
                           "re-run `mmer faces --overwrite` so that all clips are boxed alike")
    return json.loads(next(iter(seen)))


def extract_video_features(manifest: Path, boxes_dir: Path, root: Path, backbone: VideoBackbone, *,
                           face_size: int = DEFAULT_SIZE, face_margin: float = DEFAULT_MARGIN, align: bool = False,
                           batch_size: int = 8, overwrite: bool = False) -> BatchReport:
    """``root/video_features/<clip_id>.npy`` = backbone features of the face crops of
    ``num_frames`` evenly sampled frames of each clip.

    The crops are read by :func:`mmer.windows.read_windows` (the clip as one window) from the
    clip itself, with the boxes `mmer faces` wrote into ``boxes_dir``: the same reader, and the
    same pixels, as serving. The face record (detector, stride, tracking, geometry) is part of the
    feature settings: a change re-extracts, and the checkpoint records it. ``align`` cuts the faces
    upright with the box files' eye landmarks (:class:`FaceRecipe`), where they have them.
    """
    if not boxes_dir.is_dir():
        raise FileNotFoundError(f"face boxes folder {boxes_dir} does not exist (run `mmer faces` first)")
    if face_size < 16 or face_size % 2:
        raise InvalidValue("--face-size must be an even number of at least 16 pixels")
    if face_margin < 0:
        raise InvalidValue("--face-margin cannot be negative")
    records = read_manifest(manifest)
    recipe = FaceRecipe.from_dict({**boxing_record(records, boxes_dir), "face_size": face_size,
                                   "face_margin": face_margin, "align": align})
    seconds: dict[str, float] = {}

    def load(record: ClipRecord) -> np.ndarray:
        path = boxes_dir / f"{record.clip_id}.json"
        if not path.is_file():
            raise FileNotFoundError(f"no face boxes {path.name} in {boxes_dir}")
        boxes = read_boxes(path)
        if align and not any(f.get("landmarks") for f in boxes["frames"]):
            log.warning("%s has no face landmarks (its detector gives none, or it was written before they were "
                        "kept): this clip's faces are cut unaligned; `mmer faces --overwrite` with mtcnn adds them",
                        path.name)
        duration = media.clip_duration(record.resolved_path)
        (window,) = read_windows(record.resolved_path, [0.0, duration], boxes=RecordedBoxes(boxes),
                                 num_frames=backbone.num_frames, recipe=recipe, sample_rate=None)
        if window.faces is None:
            raise NoFaceFound(f"no face was found in any frame of {record.resolved_path.name}")
        seconds[record.clip_id] = duration
        return window.faces

    config = {**backbone.config(), "faces": recipe.as_dict()}
    return _extract(records, load, backbone.embed, FeatureCache(root, "video"), config, seconds,
                    batch_size=batch_size, overwrite=overwrite, expected_dim=backbone.dim)


def extract_audio_features(manifest: Path, audio_dir: Path, root: Path, backbone: AudioBackbone, *,
                           batch_size: int = 8, overwrite: bool = False) -> BatchReport:
    """``root/audio_features/<clip_id>.npy`` = the backbone's vector for the clip's audio track,
    read by :func:`mmer.windows.read_windows` (the track as one window) as serving reads sound.

    The tracks' formats (``wav``: 16-bit PCM; ``mp3``: lossy) are part of the feature settings and
    of the checkpoint's record: serving reads the upload's own sound, never an MP3 of it."""
    if not audio_dir.is_dir():
        raise FileNotFoundError(f"audio folder {audio_dir} does not exist (run `mmer audio` first)")
    records = read_manifest(manifest)
    tracks = sorted({p.suffix.lstrip(".") for p in (audio_track_path(audio_dir, r.clip_id) for r in records)
                     if p.is_file()})
    seconds: dict[str, float] = {}

    def load(record: ClipRecord) -> np.ndarray:
        path = audio_track_path(audio_dir, record.clip_id)
        if not path.is_file():
            raise FileNotFoundError(f"no audio track for {record.clip_id} in {audio_dir}")
        (window,) = read_windows(path, [0.0, math.inf], boxes=None, num_frames=0, recipe=FaceRecipe(),
                                 sample_rate=backbone.sample_rate)
        if window.audio is None or window.audio.size == 0:
            raise media.MediaError(f"{path.name}: no audio samples")
        seconds[record.clip_id] = window.audio.size / backbone.sample_rate
        return window.audio

    config = {**backbone.config(), "tracks": tracks}
    return _extract(records, load, backbone.embed, FeatureCache(root, "audio"), config, seconds,
                    batch_size=batch_size, overwrite=overwrite, expected_dim=backbone.dim)


def _extract(records: Sequence[ClipRecord], load: Callable[[ClipRecord], np.ndarray],
             embed: Callable[[list[np.ndarray]], list[np.ndarray]], cache: FeatureCache, config: dict,
             seconds: dict[str, float], *,
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
                    cache.write(record.clip_id, result, digest, seconds=seconds.get(record.clip_id))
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

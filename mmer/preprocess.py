"""Dataset-scale preparation steps over a manifest: face boxes, face-crop clips, audio tracks.

Each step maps one clip to one output file named ``<clip_id>.<ext>`` through
:func:`mmer.batch.run_batch`, so all of them resume, run in parallel and report failures
the same way. The per-clip work is the library's own (faces, media): nothing here decodes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mmer.batch import BatchReport, SkipItem, Task, run_batch
from mmer.datasets import read_manifest
from mmer.errors import InvalidValue
from mmer.faces import DEFAULT_DETECTOR, get_detector
from mmer.faces.base import FaceDetector
from mmer.faces.boxes import detect_clip, read_boxes, write_boxes
from mmer.faces.crop import DEFAULT_MARGIN, DEFAULT_SIZE, SETTINGS_FILE, crop_clip, crop_settings, read_crop_settings
from mmer.fsutil import write_json_atomic
from mmer.media import NoAudioStream, extract_audio, parse_bitrate

log = logging.getLogger(__name__)

AUDIO_FORMATS = ("wav", "mp3")

# One detector per process: loading a model per clip would dominate the run time.
_DETECTORS: dict[tuple[str, tuple[tuple[str, Any], ...]], FaceDetector] = {}


def _detector(name: str, options: dict[str, Any]) -> FaceDetector:
    key = (name, tuple(sorted(options.items())))
    if key not in _DETECTORS:
        _DETECTORS[key] = get_detector(name, **options)
    return _DETECTORS[key]


def _boxes_task(output: Path, video: Path, clip_id: str, detector: str, options: dict[str, Any],
                every: int) -> None:
    data = detect_clip(video, _detector(detector, options), clip_id=clip_id, every=every, detector_options=options)
    write_boxes(output, data)


def _crop_task(output: Path, video: Path, boxes_path: Path, size: int, margin: float) -> None:
    if not boxes_path.is_file():
        raise FileNotFoundError(f"no face boxes at {boxes_path} (run `mmer faces` first)")
    crop_clip(video, read_boxes(boxes_path), output, size=size, margin=margin)


def _audio_task(output: Path, video: Path, bitrate: str) -> None:
    try:
        extract_audio(video, output, bitrate=bitrate)
    except NoAudioStream as exc:
        raise SkipItem("no audio stream") from exc


def detect_faces(manifest: Path, out_dir: Path, *, detector: str = DEFAULT_DETECTOR,
                 detector_options: dict[str, Any] | None = None, every: int = 1, workers: int = 1,
                 overwrite: bool = False) -> BatchReport:
    """Write ``out_dir/<clip_id>.json`` face boxes for every clip of the manifest."""
    if every < 1:
        raise InvalidValue("--every must be at least 1")
    options = dict(detector_options or {})
    _detector(detector, options)  # fail once, clearly, before the batch if the detector cannot load
    tasks = [Task(r.clip_id, out_dir / f"{r.clip_id}.json", (r.resolved_path, r.clip_id, detector, options,
                                                              every))
             for r in read_manifest(manifest)]
    return run_batch(tasks, _boxes_task, out_dir=out_dir, workers=workers, overwrite=overwrite,
                     desc="faces")


def crop_faces(manifest: Path, boxes_dir: Path, out_dir: Path, *, size: int = DEFAULT_SIZE,
               margin: float = DEFAULT_MARGIN, workers: int = 1, overwrite: bool = False) -> BatchReport:
    """Write ``out_dir/<clip_id>.mkv``: ``size``×``size`` face-crop clips at the source frame rate,
    lossless (FFV1), to look at or hand to other tools. Features do not read them: `mmer
    extract-video` crops the same pixels from the clips themselves with the same boxes."""
    if size < 16 or size % 2:
        raise InvalidValue("--size must be an even number of at least 16 pixels")
    if margin < 0:
        raise InvalidValue("--margin cannot be negative")
    if not boxes_dir.is_dir():
        raise FileNotFoundError(f"face boxes folder {boxes_dir} does not exist (run `mmer faces` first)")
    _record_geometry(out_dir, crop_settings(size, margin), overwrite)
    tasks = [Task(r.clip_id, out_dir / f"{r.clip_id}.mkv", (r.resolved_path, boxes_dir / f"{r.clip_id}.json",
                                                             size, margin))
             for r in read_manifest(manifest)]
    return run_batch(tasks, _crop_task, out_dir=out_dir, workers=workers, overwrite=overwrite, desc="crop")


def _record_geometry(out_dir: Path, settings: dict[str, Any], overwrite: bool) -> None:
    """Write ``crop.json``; refuse to mix clips of two geometries in one folder (whoever reads the
    folder would get faces framed two ways without knowing it)."""
    existing = read_crop_settings(out_dir)
    if existing is not None and existing != settings and not overwrite:
        raise InvalidValue(f"the face clips in {out_dir} were cut with {existing}, not {settings}; "
                         "pass --overwrite to re-crop them all, or choose another output folder")
    write_json_atomic(out_dir / SETTINGS_FILE, settings)


def extract_audio_tracks(manifest: Path, out_dir: Path, *, fmt: str = "wav", bitrate: str = "320k",
                         workers: int = 1, overwrite: bool = False) -> BatchReport:
    """Write ``out_dir/<clip_id>.wav`` (16 kHz mono) or ``.mp3`` (44.1 kHz mono, ``bitrate``).

    Clips without an audio stream are reported as skipped, not failed.
    """
    if fmt not in AUDIO_FORMATS:
        raise InvalidValue(f"--format must be one of {', '.join(AUDIO_FORMATS)}")
    if fmt == "mp3":
        parse_bitrate(bitrate)
    tasks = [Task(r.clip_id, out_dir / f"{r.clip_id}.{fmt}", (r.resolved_path, bitrate))
             for r in read_manifest(manifest)]
    return run_batch(tasks, _audio_task, out_dir=out_dir, workers=workers, overwrite=overwrite, desc="audio")

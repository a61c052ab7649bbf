"""The shipped voice expert measured on real speech, each file read as the service reads an upload.

Two corpora, two questions:

- **RAVDESS** (its training corpus): by default the card's held-out actors, the four whose voices
  trained nothing (they chose the epoch, so the figure is mildly optimistic); ``actors`` measures
  any others (a training actor's figure says how well the model remembers, not how it generalises).
  The card's cross-validation figures come from ``mmer train-voice`` (``--cv-only`` reproduces them).
- **TurEV-DB** (never trained on): every word, another language, other microphones and rooms, one
  word per file. Its speakers are split in two: the voice's temperature is fitted on
  :data:`TUREV_CALIBRATION_SPEAKERS` (``mmer train-voice --calibration-data``), and the
  calibration figures that matter are those of the other three.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmer import media
from mmer.datasets.manifest import AUDIO_ONLY, Rejected
from mmer.datasets.ravdess import to_record
from mmer.labels import CLASSES
from mmer.training.metrics import classification_metrics, expected_calibration_error

log = logging.getLogger(__name__)

PROTOCOL = ("each file read as an upload (VAD, 3 s windows or one up to 6 s, speech only); "
            "no speech heard counts as an error")
#: The TurEV speakers the shipped voice's calibration is fitted on; the others report calibration.
TUREV_CALIBRATION_SPEAKERS = ("turev_1157", "turev_1358", "turev_6783")


def _corpus(data: Path) -> Path:
    for candidate in (data, data / "ravdess-speech-16k"):
        if any(candidate.glob("Actor_*")):
            return candidate
    raise FileNotFoundError(f"no RAVDESS Actor_* folders in {data} or {data / 'ravdess-speech-16k'}")


def read_files(paths: Sequence[Path], probabilities: Callable[[np.ndarray], np.ndarray | None]) -> np.ndarray:
    """(N, 6) the voice's answer for each file read as an upload; a row of NaN where no speech was
    heard. ``probabilities`` maps a decoded wave to the clip's probabilities (or None)."""
    out = np.full((len(paths), len(CLASSES)), np.nan)
    for i, path in enumerate(paths):
        probs = probabilities(media.decode_audio(path))
        if probs is not None:
            out[i] = probs
    return out


def score(truth: Sequence[int], probs: np.ndarray) -> dict[str, Any]:
    """Metrics of answers ``probs`` (NaN rows: no answer, an error) against ``truth``: the usual
    figures, ECE and the mean top-class confidence over the answered files, and the share of answers
    each class took."""
    truth = np.asarray(truth)
    heard = ~np.isnan(probs).any(axis=1)
    predicted = np.where(heard, np.nan_to_num(probs).argmax(axis=1), -1)
    metrics = classification_metrics(truth, predicted, abstain=True)
    counts = np.bincount(predicted[heard], minlength=len(CLASSES))
    metrics["answers"] = {c: float(counts[i] / max(1, heard.sum())) for i, c in enumerate(CLASSES)}
    metrics["ece"] = expected_calibration_error(probs[heard], truth[heard]) if heard.any() else None
    metrics["confidence"] = float(probs[heard].max(axis=1).mean()) if heard.any() else None
    return metrics


def benchmark_voice(data: Path, actors: list[str] | None = None, *, directory: Path | None = None,
                    turev: bool = True) -> dict[str, Any]:
    """Figures of the shipped (or ``directory``'s) voice expert on the RAVDESS audio-only speech
    files of ``actors`` (ids like ``ravdess_02`` or ``02``; default: the card's held-out actors)
    and, where ``data`` holds it and ``turev`` is set, on all of TurEV-DB."""
    from mmer.datasets.manifest import DatasetError
    from mmer.datasets.turev import load_turev
    from mmer.voice.expert import DEFAULT_DIR, VoiceExpert, clip_probabilities

    expert = VoiceExpert(directory or DEFAULT_DIR)

    def probabilities(wave: np.ndarray) -> np.ndarray | None:
        return clip_probabilities(expert.windows(wave)[0])

    held_out = list(expert.config.get("final", {}).get("val_actors", []))
    chosen = [a if a.startswith("ravdess_") else f"ravdess_{int(a):02d}" for a in (actors or held_out)]
    root = _corpus(data)
    paths, truth = [], []
    for actor in chosen:
        for path in sorted((root / f"Actor_{actor.split('_')[-1]}").glob("*")):
            try:
                record = to_record(path, modalities=frozenset({AUDIO_ONLY}))
            except Rejected:
                continue
            paths.append(path)
            truth.append(record.label_id)
    if not truth:
        raise FileNotFoundError(f"no RAVDESS speech files of {', '.join(chosen)} in {root}")
    start = time.perf_counter()
    ravdess = {"data": str(root), "actors": chosen, "held_out": sorted(chosen) == sorted(held_out),
               "metrics": score(truth, read_files(paths, probabilities))}
    ravdess["seconds"] = time.perf_counter() - start
    result: dict[str, Any] = {"model": expert.name, "temperature": expert.temperature, "protocol": PROTOCOL,
                              "ravdess": ravdess, "turev": None}
    if turev:
        try:  # beside RAVDESS: in ``data``, or next to the ravdess-speech-16k folder given as ``data``
            words = load_turev(data if root != data else data.parent)
        except DatasetError as exc:
            log.info("no TurEV-DB measurement: %s", exc)
        else:
            start = time.perf_counter()
            probs = read_files([w.path for w in words], probabilities)
            truth_t = np.array([w.label_id for w in words])
            calibration = np.isin([w.speaker for w in words], TUREV_CALIBRATION_SPEAKERS)
            result["turev"] = {
                "data": str(words[0].path.parent.parent), "metrics": score(truth_t, probs),
                "calibration_speakers": list(TUREV_CALIBRATION_SPEAKERS),
                "calibration_half": score(truth_t[calibration], probs[calibration]),
                "report_half": score(truth_t[~calibration], probs[~calibration]),
                "seconds": time.perf_counter() - start}
    return result


def _table(title: str, m: dict[str, Any]) -> list[str]:
    present = m["classes_present"]
    lines = [title, f"WAR {m['war']:.3f}  UAR {m['uar']:.3f}  macro-F1 {m['macro_f1']:.3f}  ECE "
             + (f"{m['ece']:.3f}  mean confidence {m['confidence']:.3f}" if m["ece"] is not None else "n/a")
             + f"  ({m['n']} files, {m['no_answer']} without speech heard)",
             "recall  " + "  ".join(f"{c} {m['per_class'][c]['recall']:.3f}" for c in present),
             "answers " + "  ".join(f"{c} {m['answers'][c]:.2f}" for c in CLASSES),
             "confusion (rows true, columns predicted)", " " * 6 + "".join(f"{c:>6}" for c in CLASSES)]
    lines += [f"{c:<6}" + "".join(f"{v:>6d}" for v in row)
              for c, row in zip(CLASSES, m["confusion"], strict=True) if c in present]
    return lines + [""]


def format_voice_benchmark(result: dict[str, Any]) -> str:
    r = result["ravdess"]
    which = "its held-out actors" if r["held_out"] else "the actors asked for"
    lines = [f"voice expert {result['model']} (temperature {result['temperature']:.3f})",
             f"protocol: {result['protocol']}", ""]
    lines += _table(f"RAVDESS speech of {which}: {', '.join(a.split('_')[-1] for a in r['actors'])} "
                    f"({r['metrics']['n']} files)", r["metrics"])
    t = result.get("turev")
    if t is not None:
        lines += _table(f"TurEV-DB, every word ({t['data']}; 4 classes, chance UAR 0.25)", t["metrics"])
        for key, label in (("calibration_half", "calibration speakers"), ("report_half", "the other speakers")):
            m = t[key]
            lines.append(f"  {label:21s} UAR {m['uar']:.3f}  ECE "
                         + (f"{m['ece']:.3f}" if m["ece"] is not None else "n/a") + f"  ({m['n']} files)")
        lines.append(f"  calibration speakers: {', '.join(t['calibration_speakers'])}")
    return "\n".join(lines).rstrip()

"""The shipped voice expert measured on RAVDESS speech files, each read as the service reads an upload.

Its model card's cross-validation figures come from ``mmer train-voice`` (retraining per fold; run it
with ``--cv-only`` to reproduce them). This checks the shipped weights themselves, quickly: by default
on the card's held-out actors, the four whose voices trained nothing (they chose the epoch and the
temperature, so the figure is mildly optimistic); ``actors`` measures any others (a training actor's
figure says how well the model remembers, not how it generalises).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from mmer import media
from mmer.datasets.manifest import AUDIO_ONLY, Rejected
from mmer.datasets.ravdess import to_record
from mmer.labels import CLASSES
from mmer.training.metrics import classification_metrics, expected_calibration_error

log = logging.getLogger(__name__)

PROTOCOL = ("each file read as an upload (VAD, 3 s windows or one up to 6 s, speech only); "
            "no speech heard counts as an error")


def _corpus(data: Path) -> Path:
    for candidate in (data, data / "ravdess-speech-16k"):
        if any(candidate.glob("Actor_*")):
            return candidate
    raise FileNotFoundError(f"no RAVDESS Actor_* folders in {data} or {data / 'ravdess-speech-16k'}")


def benchmark_voice(data: Path, actors: list[str] | None = None, *, directory: Path | None = None) -> dict[str, Any]:
    """Figures of the shipped (or ``directory``'s) voice expert on the RAVDESS audio-only speech
    files of ``actors`` (ids like ``ravdess_02`` or ``02``; default: the card's held-out actors)."""
    import numpy as np

    from mmer.voice.expert import DEFAULT_DIR, VoiceExpert, clip_probabilities

    expert = VoiceExpert(directory or DEFAULT_DIR)
    held_out = list(expert.config.get("final", {}).get("val_actors", []))
    chosen = [a if a.startswith("ravdess_") else f"ravdess_{int(a):02d}" for a in (actors or held_out)]
    root = _corpus(data)
    truth, predicted, probs_heard, truth_heard = [], [], [], []
    start = time.perf_counter()
    for actor in chosen:
        for path in sorted((root / f"Actor_{actor.split('_')[-1]}").glob("*")):
            try:
                record = to_record(path, modalities=frozenset({AUDIO_ONLY}))
            except Rejected:
                continue
            windows, _ = expert.windows(media.decode_audio(path))
            probs = clip_probabilities(windows)
            truth.append(record.label_id)
            predicted.append(-1 if probs is None else int(np.argmax(probs)))
            if probs is not None:
                probs_heard.append(probs)
                truth_heard.append(record.label_id)
    if not truth:
        raise FileNotFoundError(f"no RAVDESS speech files of {', '.join(chosen)} in {root}")
    metrics = classification_metrics(truth, predicted, abstain=True)
    return {"model": expert.name, "data": str(root), "actors": chosen,
            "held_out": sorted(chosen) == sorted(held_out), "protocol": PROTOCOL, "metrics": metrics,
            "ece": expected_calibration_error(np.stack(probs_heard), truth_heard) if probs_heard else None,
            "seconds": time.perf_counter() - start}


def format_voice_benchmark(result: dict[str, Any]) -> str:
    m = result["metrics"]
    which = "its held-out actors" if result["held_out"] else "the actors asked for"
    lines = [f"voice expert {result['model']} on RAVDESS speech of {which}: "
             f"{', '.join(a.split('_')[-1] for a in result['actors'])} ({m['n']} files, {m['no_answer']} without "
             f"speech heard)", f"protocol: {result['protocol']}", "",
             f"WAR {m['war']:.3f}  UAR {m['uar']:.3f}  macro-F1 {m['macro_f1']:.3f}  ECE "
             + (f"{result['ece']:.3f}" if result["ece"] is not None else "n/a"), "",
             "recall " + "  ".join(f"{c} {m['per_class'][c]['recall']:.3f}" for c in CLASSES), "",
             "confusion (rows true, columns predicted)", " " * 6 + "".join(f"{c:>6}" for c in CLASSES)]
    lines += [f"{c:<6}" + "".join(f"{v:>6d}" for v in row) for c, row in zip(CLASSES, m["confusion"], strict=True)]
    return "\n".join(lines)

"""Face, voice and their fusion on audio-visual clips made from real parts, each read as an upload.

No labelled corpus with face and voice together is here (no RAVDESS video), so clips are composed:
a real face photo (FER2013 PrivateTest, never used to fit anything) shown for the length of a real
voice recording with the same label, muxed into an MP4 and sent through the embedded default's
``predict`` (what ``POST /infer/predict`` runs). Two halves:

- **RAVDESS voices**: the shipped voice model's held-out actors (its card's validation actors);
- **TurEV voices**: the words of the three TurEV-DB speakers its temperature was *not* fitted on.

Each answer carries what each expert said and the fused scores, so one call gives all three
readings. A face the detector misses, or a voice without speech, leaves that expert without an
answer (counted wrong for it); the fused answer is then the other's. Prints, per half: WAR, UAR
and ECE of the face, the voice and the fused answer, how often the experts agreed, and where they
disagree how sure the fused answer is against how often it is right.

    .venv/bin/python benchmarks/fusion_av.py [--data ../shared/data] [--per-half 120] [--seed 0]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from mmer import media
from mmer.benchmark.voice import TUREV_CALIBRATION_SPEAKERS
from mmer.datasets.fer2013 import load_fer2013
from mmer.datasets.manifest import AUDIO_ONLY, Rejected
from mmer.datasets.ravdess import to_record
from mmer.datasets.turev import load_turev
from mmer.labels import CLASSES
from mmer.media.encode import write_video
from mmer.predictor import load_predictor
from mmer.predictor.answer import InputError
from mmer.predictor.default import DefaultPredictor
from mmer.training.metrics import classification_metrics, expected_calibration_error

log = logging.getLogger(__name__)
FPS = 10
SIDE = 192  # the 48-pixel face, four times larger, on a 320×240 frame


def frame_of(face: np.ndarray) -> np.ndarray:
    """A 48×48 grey FER2013 face as a 320×240 RGB video frame (the face enlarged, mid-grey around it)."""
    big = cv2.resize(face, (SIDE, SIDE), interpolation=cv2.INTER_CUBIC)
    canvas = np.full((240, 320), 128, np.uint8)
    top, left = (240 - SIDE) // 2, (320 - SIDE) // 2
    canvas[top:top + SIDE, left:left + SIDE] = big
    return np.repeat(canvas[..., None], 3, axis=2)


def voices(data: Path, held_out: list[str], per_half: int, rng: np.random.Generator) -> dict[str, list]:
    ravdess = []
    for actor in held_out:
        for path in sorted((data / "ravdess-speech-16k" / f"Actor_{actor[-2:]}").glob("*")):
            try:
                ravdess.append((path, to_record(path, modalities=frozenset({AUDIO_ONLY})).label_id))
            except Rejected:
                continue
    turev = [(w.path, w.label_id) for w in load_turev(data) if w.speaker not in TUREV_CALIBRATION_SPEAKERS]
    pick = lambda items: [items[i] for i in sorted(rng.choice(len(items), min(per_half, len(items)), replace=False))]  # noqa: E731
    return {"RAVDESS voices": pick(ravdess), "TurEV voices": pick(turev)}


def _scores(d: dict | None) -> np.ndarray | None:
    return None if d is None else np.array([d[c] for c in CLASSES])


def _summary(truth: list[int], probs: list[np.ndarray | None]) -> tuple[float, float, float]:
    predicted = [-1 if p is None else int(np.argmax(p)) for p in probs]
    m = classification_metrics(truth, predicted, abstain=True)
    heard = [i for i, p in enumerate(probs) if p is not None]
    ece = expected_calibration_error(np.stack([probs[i] for i in heard]), [truth[i] for i in heard]) if heard else 0.0
    return m["war"], m["uar"], ece


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--per-half", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--voice-model", type=Path, help="a voice model folder (default: the shipped one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rng = np.random.default_rng(args.seed)
    predictor = (load_predictor(device="cpu") if args.voice_model is None else
                 DefaultPredictor(device="cpu", voice_dir=args.voice_model))
    held_out = predictor.voice.config["final"]["val_actors"]
    faces = load_fer2013(args.data / "fer2013", "PrivateTest")
    by_class = {c: np.flatnonzero(faces.six_labels == c) for c in range(len(CLASSES))}
    print(f"model {predictor.name}; faces: FER2013 PrivateTest; voices: RAVDESS actors {', '.join(held_out)}, "
          f"TurEV speakers other than {', '.join(TUREV_CALIBRATION_SPEAKERS)}")
    print("\n| half | clips | reader | WAR | UAR | ECE |\n|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        for half, items in voices(args.data, held_out, args.per_half, rng).items():
            truth, read = [], {"face": [], "voice": [], "fused": []}
            agree, conflict, t0 = 0, [], time.perf_counter()
            for path, label in items:
                audio = media.decode_audio(path, 16_000)
                image = frame_of(faces.images[rng.choice(by_class[label])])
                write_video(clip, [image] * max(2, int(np.ceil(len(audio) / 16_000 * FPS))), FPS, audio=audio,
                            sample_rate=16_000)
                truth.append(label)
                try:
                    answer = predictor.predict(clip).to_dict()
                except InputError as exc:  # no face found and no speech heard: no reader answers
                    log.info("%s: %s", path.name, exc)
                    for reader in read.values():
                        reader.append(None)
                    continue
                read["face"].append(_scores(answer["experts"]["face"]["scores"]))
                read["voice"].append(_scores(answer["experts"]["voice"]["scores"]))
                read["fused"].append(_scores(answer["scores"]))
                agree += bool(answer["fusion"]["agree"])
                if answer["fusion"]["agree"] is False:  # both spoke and differ: is the fused answer still sure?
                    fused = read["fused"][-1]
                    conflict.append((float(fused.max()), int(np.argmax(fused)) == label))
            for reader, probs in read.items():
                war, uar, ece = _summary(truth, probs)
                missing = sum(p is None for p in probs)
                print(f"| {half} | {len(truth)} | {reader}" + (f" ({missing} without an answer)" if missing else "")
                      + f" | {war:.3f} | {uar:.3f} | {ece:.3f} |", flush=True)
            seconds = time.perf_counter() - t0
            print(f"| {half} | | experts agree on {agree / len(truth):.0%} of clips; {seconds:.0f} s | | | |")
            if conflict:
                sure, right = np.array(conflict).T
                print(f"| {half} | {len(conflict)} | fused, where the experts disagree: mean confidence "
                      f"{sure.mean():.2f}, right {right.mean():.2f} | | | |")


if __name__ == "__main__":
    main()

"""What moves the voice expert off its training corpus: each suspected cause applied to real uploads.

Held-out RAVDESS speech (the card's four validation actors, whose voices trained nothing) is changed
the way real recordings differ from RAVDESS's studio takes, written to a file and read back as an
upload (the service's own road: decode, VAD, windows, the model). For each change: the UAR, how
often the answer keeps the class it had for the untouched file, and the share of answers each class
took (a collapse shows as one or two classes taking most). The same for TurEV-DB's words, read as
they are, louder, quieter, and without the VAD's cut.

    .venv/bin/python benchmarks/voice_levers.py [--data ../shared/data] [--model DIR] [--turev-limit N]

The changes are written here, not borrowed from the training recipe's augmentation: a telephone is
8 kHz G.711 mu-law with its 300 Hz high-pass, a quieter recording is 16-bit PCM 20 dB lower, a room
is a measured-style exponential reverberation tail, a word is one second cut from the sentence.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mmer import media
from mmer.benchmark.voice import score
from mmer.datasets.manifest import AUDIO_ONLY, Rejected
from mmer.datasets.ravdess import to_record
from mmer.datasets.turev import load_turev
from mmer.labels import CLASSES
from mmer.media.encode import write_audio
from mmer.voice import vad
from mmer.voice.expert import DEFAULT_DIR, VoiceExpert, clip_probabilities

SR = 16_000


def quieter(wave: np.ndarray, db: float = -20.0) -> np.ndarray:
    return wave * np.float32(10 ** (db / 20))


def mu_law(wave: np.ndarray, mu: float = 255.0) -> np.ndarray:
    """8-bit G.711-style companding and back (the quantisation a telephone line adds)."""
    y = np.sign(wave) * np.log1p(mu * np.minimum(np.abs(wave), 1.0)) / np.log1p(mu)
    y = np.round(y * 127) / 127
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu).astype(np.float32)


def high_pass(wave: np.ndarray, hz: float, rate: int) -> np.ndarray:
    spectrum = np.fft.rfft(wave)
    spectrum[np.fft.rfftfreq(len(wave), 1 / rate) < hz] = 0
    return np.fft.irfft(spectrum, len(wave)).astype(np.float32)


def room(wave: np.ndarray, rt60: float = 0.5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(rt60 * SR)
    tail = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n) * 0.3
    tail[0] = 1.0
    out = np.convolve(wave, tail)[:len(wave)]
    return (out * np.sqrt(np.mean(wave**2) / (np.mean(out**2) + 1e-12))).astype(np.float32)


def one_word(wave: np.ndarray, seconds: float = 1.0) -> np.ndarray:
    """One second around the middle of the speech, silence elsewhere (the file keeps its length)."""
    span = vad.speech_span(vad.speech_regions(wave))
    mid = (span.start + span.end) / 2 if span else len(wave) / SR / 2
    a = max(0, int((mid - seconds / 2) * SR))
    out = np.zeros_like(wave)
    out[a:a + int(seconds * SR)] = wave[a:a + int(seconds * SR)]
    return out


def noisy(wave: np.ndarray, snr_db: float = 15.0, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(len(wave)).astype(np.float32)
    return wave + noise * np.float32(np.sqrt(np.mean(wave**2) / 10 ** (snr_db / 10)))


class Reader:
    """Writes a changed wave to a file and reads it back as an upload."""

    def __init__(self, expert: VoiceExpert, folder: Path) -> None:
        self.expert, self.folder = expert, folder

    def upload(self, wave: np.ndarray, rate: int = SR) -> np.ndarray:
        path = self.folder / "upload.wav"
        write_audio(path, wave, rate)
        return media.decode_audio(path, SR)

    def answer(self, wave: np.ndarray) -> np.ndarray:
        probs = clip_probabilities(self.expert.windows(wave)[0])
        return np.full(len(CLASSES), np.nan) if probs is None else probs

    def telephone(self, path: Path) -> np.ndarray:
        narrow = media.decode_audio(path, 8000)  # PyAV's resampler: nothing above 4 kHz
        return self.upload(mu_law(high_pass(narrow, 300.0, 8000)), 8000)


def _row(name: str, truth: list[int], probs: np.ndarray, reference: np.ndarray | None) -> str:
    m = score(truth, probs)
    kept = ""
    if reference is not None:
        a, b = np.nan_to_num(probs, nan=-1).argmax(1), np.nan_to_num(reference, nan=-1).argmax(1)
        kept = f"{float(np.mean(a == b)):.2f}"
    answers = " ".join(f"{m['answers'][c]:.2f}" for c in CLASSES)
    return f"| {name} | {m['uar']:.3f} | {kept or '—'} | {answers} | {m['no_answer']} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--model", type=Path, default=DEFAULT_DIR, help="a voice model folder (default: shipped)")
    parser.add_argument("--turev-limit", type=int, default=0, help="every N-th TurEV word only (0: all)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    expert = VoiceExpert(args.model)
    held = expert.config["final"]["val_actors"]
    files = []
    for actor in held:
        for path in sorted((args.data / "ravdess-speech-16k" / f"Actor_{actor[-2:]}").glob("*")):
            try:
                files.append((path, to_record(path, modalities=frozenset({AUDIO_ONLY})).label_id))
            except Rejected:
                continue
    truth = [y for _, y in files]
    print(f"voice model {expert.name} ({args.model}); RAVDESS held-out actors {', '.join(held)}: {len(files)} files")
    print("\n| RAVDESS, changed | UAR | class kept | answers " + " ".join(CLASSES) + " | no answer |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        reader = Reader(expert, Path(tmp))
        waves = [media.decode_audio(p, SR) for p, _ in files]
        base = np.stack([reader.answer(w) for w in waves])
        print(_row("as recorded", truth, base, None))
        changes: dict[str, Callable[[int], np.ndarray]] = {
            "20 dB quieter (16-bit WAV)": lambda i: reader.upload(quieter(waves[i])),
            "telephone (8 kHz mu-law, 300 Hz high-pass)": lambda i: reader.telephone(files[i][0]),
            "white noise at 15 dB SNR": lambda i: reader.upload(noisy(waves[i])),
            "a room, RT60 0.5 s": lambda i: reader.upload(room(waves[i])),
            "one second of the sentence": lambda i: reader.upload(one_word(waves[i])),
        }
        for name, change in changes.items():
            print(_row(name, truth, np.stack([reader.answer(change(i)) for i in range(len(files))]), base), flush=True)
        words = load_turev(args.data)
        if args.turev_limit:
            words = words[::args.turev_limit]
        truth_t = [w.label_id for w in words]
        print(f"\n| TurEV-DB ({len(words)} words), changed | UAR | class kept | answers " + " ".join(CLASSES)
              + " | no answer |")
        print("|---|---|---|---|---|")
        waves_t = [media.decode_audio(w.path, SR) for w in words]
        base_t = np.stack([reader.answer(w) for w in waves_t])
        print(_row("as recorded", truth_t, base_t, None))
        whole = np.stack([reader.expert.probabilities([w])[0] for w in waves_t])
        for name, probs in (("20 dB quieter", [reader.answer(reader.upload(quieter(w))) for w in waves_t]),
                            ("12 dB louder", [reader.answer(reader.upload(np.clip(quieter(w, 12), -1, 1)))
                                              for w in waves_t]),
                            ("the whole file, no VAD cut", whole)):
            print(_row(name, truth_t, np.stack(probs), base_t), flush=True)


if __name__ == "__main__":
    main()

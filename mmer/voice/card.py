"""The voice model's MODEL_CARD.md, written from the run that made the weights (never by hand)."""

from __future__ import annotations

from typing import Any

from mmer.labels import CLASS_NAMES, CLASSES


def _pm(stat: dict) -> str:
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}"


def _hardest(cv: dict[str, Any] | None) -> list[str]:
    """The card's line on the weakest classes, from the pooled recall (never written by hand)."""
    if cv is None:
        return []
    recall = {c: cv["pooled"]["per_class"][c]["recall"] for c in CLASSES}
    worst = sorted(recall, key=recall.get)[:2]
    names = " and ".join(f"{CLASS_NAMES[CLASSES.index(c)].lower()} (recall {recall[c]:.2f})" for c in worst)
    lines = [f"- Its weakest classes are {names}; see the confusion above for what they are taken for."]
    silent = cv["pooled"].get("no_answer", 0)
    if silent:
        lines.append(f"- The VAD misses some loud, shouted speech ({silent} of {cv['pooled']['n']} RAVDESS clips): "
                     "such an upload gets no voice answer, only the face's (or 422 `no_signal` without a face).")
    return lines


def render_card(config: dict[str, Any], cv: dict[str, Any] | None, command: str) -> str:
    recipe, final = config["recipe"], config["final"]
    lines = [
        f"# {config['name']}: the voice expert of mmer's embedded default",
        "",
        "Six-class speech emotion (" + ", ".join(CLASSES) + ") from a stretch of speech, read by a small CNN "
        "over a log-mel spectrogram normalised within the stretch itself. Trained from scratch here: no "
        "pretrained speech model can be downloaded on the machines that build mmer.",
        "",
        "## Data and licence",
        "",
        "- RAVDESS, speech, audio-only (modality 03): 24 professional actors (12 female, 12 male), two "
        "lexically matched statements, North-American English; 1,440 clips, of which surprised (192) is "
        "dropped and calm joins neutral: 1,248 clips. Livingstone & Russo (2018), "
        "https://zenodo.org/record/1188976.",
        "- **Licence: CC BY-NC-SA 4.0.** These weights are an adaptation of RAVDESS: non-commercial use "
        "only, share-alike, with attribution to Livingstone & Russo (2018). mmer's code is MIT; these "
        "weights are not.",
        "",
        "## Reproduce",
        "",
        "```",
        command,
        "```",
        "",
        "The command measures the recipe by cross-validation, trains the shipped model, and writes this "
        "card, `config.json` and `model.safetensors` (sha256 in `config.json`).",
        "",
        "## Model",
        "",
        f"- {config['net']['arch']} with channels {config['net']['channels']}, {config['parameters']:,} weights; "
        f"input: 64-band log-mel (32 ms windows, 10 ms hop, 16 kHz, per-band mean removed over the stretch "
        f"(`{config['normalisation']}` normalisation)); masked mean/std pooling over time.",
        f"- Training: AdamW (lr {recipe['learning_rate']}, weight decay {recipe['weight_decay']}), one-cycle "
        f"schedule, {recipe['epochs']} epochs at most with early stopping on validation UAR (patience "
        f"{recipe['patience']}), class-weighted cross-entropy with label smoothing {recipe['label_smoothing']}.",
        f"- Augmentation: random {recipe['crop_s']} s crops, speed perturbation {recipe['speed']}, gain ±"
        f"{recipe['gain_db']} dB, white or pink noise at {recipe['snr_db']} dB SNR (p = {recipe['noise_p']}), "
        f"SpecAugment ({recipe['freq_masks']} frequency masks ≤ {recipe['freq_mask_bins']} bands, "
        f"{recipe['time_masks']} time masks ≤ {recipe['time_mask_frames']} frames).",
        "- Each clip is trimmed to its speech by the same Silero VAD the service uses.",
        f"- The shipped weights: trained on {final['train_clips']} clips of the actors "
        f"{', '.join(final['train_actors'])}; the actors {', '.join(final['val_actors'])} "
        f"({final['val_clips']} clips) chose the epoch ({final['best_epoch']}, validation UAR "
        f"{final['val_uar']:.3f}) and the temperature ({config['temperature']:.3f}).",
        "",
    ]
    if cv is not None:
        s = cv["summary"]
        lines += [
            "## Protocol and figures",
            "",
            f"Speaker-independent: {cv['protocol']}. For each fold the test actors are never heard in "
            "training; the next fold's actors pick the epoch and the temperature. A test clip is read "
            "exactly as the service reads one upload of it (the same function): the VAD over the whole "
            "file, 3-second windows (one for a file up to 6 s), each window with speech scored from its "
            "first to its last word, normalised within itself, and the windows averaged by their speech; "
            "nothing from the "
            "speaker's other clips. A clip in which the VAD finds no speech gets no answer, as in the "
            "service, and counts as an error. Chance UAR is 0.167.",
            "",
            "| | WAR | UAR | macro-F1 |",
            "|---|---|---|---|",
            f"| mean ± std over {len(cv['folds'])} folds | {_pm(s['war'])} | {_pm(s['uar'])} | "
            f"{_pm(s['macro_f1'])} |",
        ]
        lines += [f"| fold {f['fold']} ({', '.join(a.split('_')[-1] for a in f['test_actors'])}) | {f['war']:.3f} | "
                  f"{f['uar']:.3f} | {f['macro_f1']:.3f} |" for f in cv["folds"]]
        pooled = cv["pooled"]
        recall = pooled["per_class"]
        silent = pooled.get("no_answer", 0)
        lines += ["", f"{silent} of {pooled['n']} test clips ({100 * silent / pooled['n']:.1f} %) got no voice "
                  "answer (the VAD found less than 0.3 s of speech in them); they count as errors above."]
        lines += [
            "",
            "Per-class recall (all test folds pooled):",
            "",
            "| " + " | ".join(CLASSES) + " |",
            "|" + "---|" * len(CLASSES),
            "| " + " | ".join(f"{recall[c]['recall']:.3f}" for c in CLASSES) + " |",
            "",
            "Confusion (rows: true class, columns: predicted; all test folds pooled; clips without an "
            "answer are in no column):",
            "",
            "| | " + " | ".join(CLASSES) + " |",
            "|---|" + "---|" * len(CLASSES),
        ]
        lines += [f"| {c} | " + " | ".join(str(v) for v in row) + " |"
                  for c, row in zip(CLASSES, pooled["confusion"], strict=True)]
        ece = s["ece_after"]
        lines += [
            "",
            f"Calibration (expected calibration error on the test folds): {_pm(ece['ece_before'])} before, "
            f"{_pm(ece['ece_after'])} after temperature scaling.",
            "",
        ]
    lines += [
        "## What it cannot do",
        "",
        "- It has heard 24 acted voices, reading two sentences in a studio. Spontaneous speech, other "
        "languages and accents, children, phone or far-field microphones, and background noise beyond the "
        "augmentation are outside what it was measured on; expect lower figures there.",
        "- Acted emotion is exaggerated; everyday emotion is subtler and often mixed.",
        *_hardest(cv),
        "- It reads the voice only: not the words, and not who is speaking.",
        "",
    ]
    return "\n".join(lines)

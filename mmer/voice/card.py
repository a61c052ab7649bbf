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
    lines = [f"- On RAVDESS its weakest classes are {names}; see the confusion above for what they are taken for."]
    silent = cv["pooled"].get("no_answer", 0)
    if silent:
        lines.append(f"- The VAD misses some loud, shouted speech ({silent} of {cv['pooled']['n']} RAVDESS clips): "
                     "such an upload gets no voice answer, only the face's (or 422 `no_signal` without a face).")
    return lines


def _confusion(metrics: dict[str, Any], rows: list[str] | None = None) -> list[str]:
    rows = rows or list(CLASSES)
    lines = ["| | " + " | ".join(CLASSES) + " |", "|---|" + "---|" * len(CLASSES)]
    return lines + [f"| {c} | " + " | ".join(str(v) for v in row) + " |"
                    for c, row in zip(CLASSES, metrics["confusion"], strict=True) if c in rows]


def _model_lines(config: dict[str, Any]) -> list[str]:
    recipe, final, net = config["recipe"], config["final"], config["net"]
    augment = (f"speed perturbation {recipe['speed']}, reverberation (RT60 {recipe['rt60_s']} s, p = "
               f"{recipe['reverb_p']}), band-limiting (telephone 300–3400 Hz or a 2.5–6 kHz low-pass, p = "
               f"{recipe['band_p']}), gain ±{recipe['gain_db']} dB, white or pink noise at {recipe['snr_db']} dB SNR "
               f"(p = {recipe['noise_p']})")
    if net["arch"] == "encoder":
        return [
            f"- A linear head ({config['parameters']:,} weights) over a fixed pretrained speech encoder: Resemblyzer's "
            "voice encoder (GE2E, a 3-layer LSTM over 40 mel bands, trained by its authors to tell thousands of "
            "speakers apart on LibriSpeech and VoxCeleb; Apache-2.0, its weights taken from the `Resemblyzer==0.1.4` "
            "wheel on PyPI by `mmer weights fetch`). The head reads the mean and standard deviation over time of "
            f"each layer's states ({net['input_dim']} numbers per stretch of speech), standardised with the "
            "training set's statistics (shipped with the weights).",
            f"- Training: class-weighted cross-entropy with an L2 penalty ({recipe['l2']}) solved to convergence "
            "(L-BFGS). Each training clip gives its whole speech and "
            f"{recipe['examples_per_clip']} augmented stretches of {recipe['example_s'][0]}–{recipe['example_s'][1]} s "
            f"(a word or two): {augment}.",
            "- Each clip is trimmed to its speech by the same Silero VAD the service uses.",
            f"- The shipped weights: trained on {final['train_clips']} clips of the actors "
            f"{', '.join(final['train_actors'])}; the actors {', '.join(final['val_actors'])} "
            f"({final['val_clips']} clips, validation UAR {final['val_uar']:.3f}) are held out.",
        ]
    return [
        f"- {net['arch']} with channels {net['channels']}, {config['parameters']:,} weights; input: 64-band log-mel "
        f"(`{config['normalisation']}` normalisation); masked mean/std pooling over time.",
        f"- Training: AdamW (lr {recipe['learning_rate']}, weight decay {recipe['weight_decay']}), one-cycle "
        f"schedule, {recipe['epochs']} epochs at most with early stopping on validation UAR, class-weighted "
        f"cross-entropy with label smoothing {recipe['label_smoothing']}. Augmentation: random stretches of "
        f"{recipe['crop_s'][0]}–{recipe['crop_s'][1]} s, {augment}.",
        f"- The shipped weights: trained on {final['train_clips']} clips; the actors "
        f"{', '.join(final['val_actors'])} chose the epoch ({final['best_epoch']}, validation UAR "
        f"{final['val_uar']:.3f}).",
    ]


def _calibration_lines(config: dict[str, Any]) -> list[str]:
    final = config["final"]
    calibration = final.get("calibration")
    if calibration is None:
        return [f"- Temperature {config['temperature']:.3f}, fitted on the held-out RAVDESS actors."]
    fitted_on = (f"the TurEV-DB words of {', '.join(calibration['speakers'])} ({calibration['words']} words) read "
                 "by the shipped model")
    if calibration.get("ravdess_clips"):
        fitted_on += (f" and {calibration['ravdess_clips']} RAVDESS clips of "
                      f"{len(calibration['ravdess_actors'])} actors, each read by a cross-validation model that never "
                      "heard them (not the shipped model's validation actors), the two sets weighted equally")
    lines = []
    if calibration.get("slope", 0.0) > 0:
        ref = calibration["reference"]
        shift = f"d {'+' if ref < 0 else '−'} {abs(ref):.3f}"
        lines.append(f"- Temperature per window, growing with how unfamiliar the voice is: T = "
                     f"{calibration['temperature']:.3f} · exp({calibration['slope']:.3f} · ({shift})), where d is "
                     "the log mean squared part of the window's "
                     f"standardised encoder statistics outside the {config['net'].get('subspace', 0)} principal "
                     "directions of the training examples, and the reference is a typical training example's d "
                     "(`mmer/voice/calibration.py`).")
    else:
        lines.append(f"- Temperature {calibration['temperature']:.3f} for every window.")
    single = calibration.get("single_temperature", float("nan"))
    lines.append(f"- Fitted by NLL on {fitted_on}; every clip read as an upload; no weight is fitted there. One "
                 f"temperature fitted on the same data would be {single:.3f}; on the held-out RAVDESS actors alone "
                 f"{final.get('temperature_ravdess_val', float('nan')):.3f} "
                 "(sure of itself exactly where it is wrong off RAVDESS).")
    return lines


def _turev_lines(turev: dict[str, Any] | None) -> list[str]:
    if turev is None:
        return []
    m = turev["metrics"]
    rows = m["classes_present"]
    lines = [
        "### Off its corpus: TurEV-DB (never trained on)",
        "",
        f"Every word of TurEV-DB ({m['n']} single Turkish words, 6 speakers; Calm read as Neutral, no Fearful or "
        "Disgusted words, so chance UAR is 0.25 and every FEA or DIS answer is wrong), each read as an upload. "
        "Licence CC BY-NC-ND 4.0: measured only.",
        "",
        "| | WAR | UAR | macro-F1 | ECE | no answer |",
        "|---|---|---|---|---|---|",
    ]
    for key, label in (("metrics", "all words"), ("calibration_half", "calibration speakers"),
                       ("report_half", "the other three speakers")):
        s = turev[key]
        lines.append(f"| {label} ({s['n']}) | {s['war']:.3f} | {s['uar']:.3f} | {s['macro_f1']:.3f} | "
                     + (f"{s['ece']:.3f}" if s["ece"] is not None else "n/a") + f" | {s['no_answer']} |")
    lines += ["", f"Calibration speakers: {', '.join(turev['calibration_speakers'])}; the ECE that counts is the other "
              "three's.", "", "Per-class recall, and the share of answers each class took:", "",
              "| | " + " | ".join(CLASSES) + " |", "|---|" + "---|" * len(CLASSES),
              "| recall | " + " | ".join(f"{m['per_class'][c]['recall']:.3f}" if c in rows else "—" for c in CLASSES)
              + " |",
              "| answers | " + " | ".join(f"{m['answers'][c]:.2f}" for c in CLASSES) + " |",
              "", "Confusion (rows: true class, columns: predicted):", ""]
    return lines + _confusion(m, rows) + [""]


def render_card(config: dict[str, Any], cv: dict[str, Any] | None, command: str,
                turev: dict[str, Any] | None = None) -> str:
    lines = [
        f"# {config['name']}: the voice expert of mmer's embedded default",
        "",
        "Six-class speech emotion (" + ", ".join(CLASSES) + ") from a stretch of speech. "
        + ("A pretrained speech encoder, fixed, and a linear head trained here on RAVDESS speech."
           if config["net"]["arch"] == "encoder" else
           "A small network over a log-mel spectrogram, trained from scratch here on RAVDESS speech."),
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
        *(["- The speech encoder: Resemblyzer 0.1.4 (Resemble AI), Apache-2.0, fetched from PyPI at set-up; "
           "not part of this folder."] if config["net"]["arch"] == "encoder" else []),
        "",
        "## Reproduce",
        "",
        "```",
        command,
        "```",
        "",
        "The command measures the recipe by cross-validation, trains the shipped model, fits its calibration, "
        "measures it on TurEV-DB, and writes this card, `config.json` and `model.safetensors` (sha256 in "
        "`config.json`). `mmer benchmark voice --data ../shared/data` measures the shipped files again; "
        "`benchmarks/voice_levers.py` what quieter, telephone, noisy, reverberant and one-word uploads do to it.",
        "",
        "## Model",
        "",
        *_model_lines(config),
        *_calibration_lines(config),
        "",
    ]
    if cv is not None:
        s = cv["summary"]
        lines += [
            "## Protocol and figures",
            "",
            f"Speaker-independent: {cv['protocol']}. For each fold the test actors are never heard in "
            "training; the next fold's actors are held out too (they fit the fold's temperature). A test clip is "
            "read exactly as the service reads one upload of it (the same function): the VAD over the whole "
            "file, 3-second windows (one for a file up to 6 s), each window with at least 0.4 s of speech "
            "scored from its first to its last word, and the windows averaged by their speech; nothing from the "
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
                  "answer (the VAD found too little speech in them); they count as errors above."]
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
            *_confusion(pooled),
        ]
        ece = s["ece_after"]
        lines += [
            "",
            f"Calibration on RAVDESS (expected calibration error on the test folds): {_pm(ece['ece_before'])} before, "
            f"{_pm(ece['ece_after'])} after each fold's own temperature.",
            "",
        ]
    lines += _turev_lines(turev)
    lines += [
        "## What it cannot do",
        "",
        "- Its head has heard 24 acted voices, reading two sentences in a studio. Off RAVDESS it is much weaker "
        "(TurEV above): trust it as a hint of arousal and tone, and let the face lead where both are present.",
        "- Acted emotion is exaggerated; everyday emotion is subtler and often mixed.",
        *_hardest(cv),
        "- Less than 0.4 s of speech is not read (no answer, and the answer says why).",
        "- It reads the voice only: not the words. The encoder was made to recognise speakers; the head "
        "reads how the voice sounds, not who it is.",
        "",
    ]
    return "\n".join(lines)

"""The expression network's card: ``figures.json`` and ``MODEL_CARD.md`` beside its weights, written by
the run that made them (:func:`mmer.face_expert.build.build_face_model`), never by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mmer.fsutil import write_json_atomic, write_text_atomic

FIGURES_NAME = "figures.json"
CARD_NAME = "MODEL_CARD.md"


def headline(figures: dict[str, Any]) -> dict[str, Any]:
    """The served run's figures of record on PrivateTest (the flip as served, temperature from PublicTest)."""
    run = next(r for r in figures["privatetest"]["runs"] if r["flip"] == figures["flip"])
    ferplus = run.get("ferplus") or {}
    return {"split": figures["privatetest"]["split"], "flip": run["flip"], "accuracy7": round(run["accuracy7"], 4),
            "ferplus7": round(ferplus["accuracy7"], 4) if "accuracy7" in ferplus else None,
            "ferplus8": round(ferplus["accuracy8"], 4) if "accuracy8" in ferplus else None,
            **{k: round(run["six"][k], 4) for k in ("war", "uar", "macro_f1")},
            "ece": round(run["calibration"]["ece_before"], 4),
            "ece_calibrated": round(run["calibration"]["ece_after"], 4),
            "temperature": round(run["calibration"]["temperature"], 4)}


def render_card(figures: dict[str, Any]) -> str:
    h = headline(figures)
    recipe = figures["recipe"]
    net = recipe["net"]
    history = figures["history"]
    lines = [
        f"# {figures['name']}: the face expert trained here on FER2013 with the FER+ votes",
        "",
        "Facial expression from one face crop: a compact residual network (widths "
        f"{', '.join(str(w) for w in net['widths'])}, {net['blocks_per_stage']} block(s) per stage) on a 48×48 grey "
        "face, answering FER+'s eight emotions (neutral, happiness, surprise, sadness, anger, disgust, fear, "
        "contempt). mmer reads six of them (surprise and contempt dropped, the rest renormalised).",
        "",
        "## Data and licence",
        "",
        "- Faces: FER2013 (ICML 2013 challenge; distributed for research, no explicit licence), the original "
        "pixels. Targets: the FER+ votes of ten annotators per face (Barsoum et al. 2016, microsoft/FERPlus, MIT).",
        "- Code: mmer (this repository). The weights inherit FER2013's research-only terms: do not use them "
        "commercially without clearing that.",
        f"- Trained on Training ({figures['train_faces']:,} faces"
        + (f", limited to {figures['limit']:,} for a quick look" if figures.get("limit") else "")
        + f"); every choice made on PublicTest ({figures['val_faces']:,} faces with an emotion vote); PrivateTest "
        "read once, for the figures below.",
        "",
        "## Reproduce",
        "",
        "```",
        figures["command"],
        "```",
        "",
        f"Training took {figures['train_seconds'] / 60:.0f} min ({len(history)} epochs, summed over every resumed "
        f"part), choosing on PublicTest and measuring PrivateTest {figures['measure_seconds'] / 60:.1f} min, on the "
        "machine that ran it. A stopped run resumes from its last epoch to the same weights.",
        "",
        "## Protocol",
        "",
        f"- Targets: `{recipe['target']}` (soft: the votes' distribution; majority: FER+'s single majority, "
        "one-hot). Webcam-like augmentation (crop, scale, rotation, flip, exposure, blur, noise, erasing).",
        f"- AdamW, one-cycle learning rate up to {recipe['learning_rate']}, weight decay {recipe['weight_decay']}, "
        f"batch {recipe['batch_size']}, {recipe['epochs']} epochs, seed {recipe['seed']}; the epoch kept is the "
        f"one with the best PublicTest FER+ majority accuracy: epoch {figures['best_epoch']} "
        f"({figures['val_accuracy']:.4f}).",
        f"- Mirror image read too (flip TTA): {'yes' if figures['flip'] else 'no'} — PublicTest six-class UAR "
        f"{figures['publictest']['uar6']:.4f} without, {figures['publictest']['uar6_flip']:.4f} with; served only "
        "if the flip adds at least half a point.",
        f"- Temperature of the six-class answers: {figures['temperature']:.4f}, fitted on PublicTest.",
        "",
        "## Figures of record (PrivateTest, as served)",
        "",
        "| acc7 (original labels) | FER+ majority, 8 emotions | FER+ majority, FER2013's 7 | WAR6 | UAR6 | macro-F1 6 "
        "| ECE6 | ECE6 after T |",
        "|---|---|---|---|---|---|---|---|",
        f"| {h['accuracy7']:.4f} | {_fmt(h['ferplus8'])} | {_fmt(h['ferplus7'])} | {h['war']:.4f} | {h['uar']:.4f} "
        f"| {h['macro_f1']:.4f} | {h['ece']:.4f} | {h['ece_calibrated']:.4f} |",
        "",
        "The benchmark's whole output (`mmer benchmark face`, both flip settings, per-class recall, confusion):",
        "",
        "```",
        figures["privatetest_table"],
        "```",
        "",
        "PublicTest (where the flip was chosen):",
        "",
        "```",
        figures["publictest"]["table"],
        "```",
        "",
        "## Training history",
        "",
        "| epoch | loss | PublicTest FER+ accuracy | seconds |",
        "|---|---|---|---|",
        *[f"| {r['epoch']} | {r['loss']:.4f} | {r['val_accuracy']:.4f} | {r['seconds']:.0f} |" for r in history],
        "",
        "## Limits",
        "",
        "- FER2013's faces are web images, mostly frontal, 48×48 grey: small, turned, occluded or very dark "
        "faces are read worse, and colour is never used.",
        "- The original FER2013 labels and the FER+ votes disagree on 38 % of faces; a model trained on the votes "
        "is measured against both, and the original labels' figure is bounded by that disagreement.",
        "- Disgust and contempt are rare in training (a few hundred faces): their recall is the least certain.",
        "- Posed lab faces and faces from video differ from FER2013's; the in-the-wild figures are in the README.",
    ]
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def write_card(figures: dict[str, Any], out: Path) -> Path:
    """Write ``figures.json`` and ``MODEL_CARD.md`` into ``out`` (each atomically); returns the card."""
    write_json_atomic(out / FIGURES_NAME, {**figures, "headline": headline(figures)})
    write_text_atomic(out / CARD_NAME, render_card(figures))
    return out / CARD_NAME


def load_figures(directory: Path) -> dict[str, Any]:
    """The figures a model directory's card was written from ({} where there are none)."""
    path = directory / FIGURES_NAME
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

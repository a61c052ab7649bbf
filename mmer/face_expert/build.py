"""``make face-model``: the shipped expression network from FER2013 and the FER+ votes, in one run.

Train (:func:`mmer.face_expert.train.train_expression_net`, resumable from ``state_dir``), then make
every serving choice on PublicTest: whether to read the mirror image too (only where it measurably
helps: six-class UAR up by at least :data:`FLIP_MIN_GAIN`) and the temperature of the six-class
answers. Only then is PrivateTest read, once, for the figures of record; the card is written from
that run's output, never by hand.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from mmer.benchmark.face import benchmark_face, format_face_benchmark
from mmer.datasets.fer2013 import load_fer2013, load_ferplus_votes
from mmer.face_expert.card import write_card
from mmer.face_expert.expert import ExpressionNetFaces, save_expression_net
from mmer.face_expert.train import FaceRecipe, face_set, train_expression_net

log = logging.getLogger(__name__)

#: The flip doubles the network's work per face; it is served only if PublicTest's six-class UAR
#: rises by at least this much with it.
FLIP_MIN_GAIN = 0.005
NAME = "mmer-expression-net"


def build_face_model(data: Path, out: Path, *, state_dir: Path, recipe: FaceRecipe | None = None,
                     command: str = "make face-model", limit: int | None = None) -> dict[str, Any]:
    """Train, choose, measure and write the model and its card to ``out``. ``limit`` trains on that
    many training faces (a quick look; the card then says so). Returns the card's figures."""
    recipe = recipe or FaceRecipe()
    training = load_fer2013(data, "Training", limit=limit, progress=True)
    public = load_fer2013(data, "PublicTest", progress=True)
    train = face_set(training, load_ferplus_votes(training), recipe.target)
    val = face_set(public, load_ferplus_votes(public), "soft")
    state_dir.mkdir(parents=True, exist_ok=True)
    model, report = train_expression_net(train, val, recipe, state_path=state_dir / "state.pt")
    train_seconds = sum(row["seconds"] for row in report["history"])  # every resumed part's epochs
    measured_from = time.perf_counter()

    # Every serving choice on PublicTest: first the flip, then (inside the PrivateTest run, fitted
    # on PublicTest) the temperature.
    save_expression_net(model, out, name=NAME)
    faces = ExpressionNetFaces(out, device="cpu")
    chosen_on = benchmark_face(data, "PublicTest", model=faces, calibrate_on=None)
    uar = {run["flip"]: run["six"]["uar"] for run in chosen_on["runs"]}
    flip = uar[True] - uar[False] >= FLIP_MIN_GAIN
    log.info("PublicTest six-class UAR %.4f without the flip, %.4f with it: %s", uar[False], uar[True],
             "flip served" if flip else "no flip")
    result = benchmark_face(data, "PrivateTest", model=faces, calibrate_on="PublicTest")
    served = next(run for run in result["runs"] if run["flip"] == flip)
    temperature = served["calibration"]["temperature"]
    save_expression_net(model, out, name=NAME, temperature=temperature, flip=flip,
                        extra={"ferplus_target": recipe.target})
    figures = {
        "name": NAME, "command": command, "limit": limit, "flip": flip, "temperature": temperature,
        "recipe": report["recipe"], "train_faces": report["train_faces"], "val_faces": report["val_faces"],
        "best_epoch": report["best_epoch"], "val_accuracy": report["val_accuracy"], "history": report["history"],
        "train_seconds": round(train_seconds, 1), "measure_seconds": round(time.perf_counter() - measured_from, 1),
        "publictest": {"uar6": uar[False], "uar6_flip": uar[True],
                       "table": format_face_benchmark(chosen_on)},
        "privatetest": result, "privatetest_table": format_face_benchmark(result),
    }
    write_card(figures, out)
    return figures

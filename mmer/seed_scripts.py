"""The seed-named preprocessing scripts (preprocessing/*.py): `mmer` subcommands with one dataset's defaults.

Layout per dataset (all overridable): raw videos in ``data/<dataset>/videos``, and next to them
``manifest.csv``, ``extracted_bboxes/``, ``extracted_faces_videos/``, ``extracted_audio/``.
The manifest is built first when it does not exist yet. Any other option is passed on to
``mmer <command>`` (see ``mmer <command> --help``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mmer import cli

#: Audio format per dataset: the seed wrote CREMA-D audio as 320k mp3 and RAVDESS as wav.
AUDIO_DEFAULTS = {"ravdess": ["--format", "wav"], "cremad": ["--format", "mp3", "--bitrate", "320k"]}


def run(dataset: str, command: str, argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=f"{dataset}: mmer {command} with this dataset's default folders; "
        f"other options go to `mmer {command}`.")
    parser.add_argument("--root", type=Path, default=Path("data") / dataset / "videos", help="the dataset's videos")
    parser.add_argument("--work", type=Path, default=Path("data") / dataset, help="where outputs go")
    known, rest = parser.parse_known_args(argv)
    manifest = known.work / "manifest.csv"
    if not manifest.exists():
        code = cli.main(["manifest", dataset, str(known.root), "-o", str(manifest)])
        if code:
            return code
    work = known.work
    commands = {
        "faces": ["faces", str(manifest), "-o", str(work / "extracted_bboxes")],
        "crop": ["crop", str(manifest), "--bboxes", str(work / "extracted_bboxes"),
                 "-o", str(work / "extracted_faces_videos")],
        "audio": ["audio", str(manifest), "-o", str(work / "extracted_audio"), *AUDIO_DEFAULTS[dataset]],
    }
    return cli.main([*commands[command], *rest])


def script(dataset: str, command: str) -> None:
    sys.exit(run(dataset, command))


def passthrough(command: str, defaults: Sequence[str] = ()) -> None:
    """A seed script that is one ``mmer`` subcommand: ``defaults`` first, so the user's arguments win."""
    sys.exit(cli.main([command, *defaults, *sys.argv[1:]]))

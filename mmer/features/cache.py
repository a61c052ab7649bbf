"""The feature cache: ``<root>/{video,audio}_features/<clip_id>.npy`` (float16) plus metadata.

Each modality folder holds ``features.json`` (backbone, source, dim, config and its hash) and
``index.jsonl``, one line per written clip with the config hash it was made with. The index is
what makes resume safe: a clip counts as done only if its file exists *and* its line carries
the current hash, so changing a backbone, its weights or the frame count re-extracts exactly
the clips made with the old settings. ``<root>/features.json`` summarises both modalities.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mmer import __version__
from mmer.errors import InvalidValue
from mmer.features.base import config_hash
from mmer.fsutil import atomic_path, write_json_atomic

log = logging.getLogger(__name__)

MODALITIES = ("video", "audio")
META_FILE = "features.json"
INDEX_FILE = "index.jsonl"
DTYPE = np.float16


class FeatureCache:
    """One modality's folder of cached features."""

    def __init__(self, root: Path, modality: str) -> None:
        if modality not in MODALITIES:
            raise InvalidValue(f"modality must be one of {', '.join(MODALITIES)}, got {modality!r}")
        self.root = Path(root)
        self.modality = modality
        self.folder = self.root / f"{modality}_features"

    @property
    def meta_path(self) -> Path:
        return self.folder / META_FILE

    @property
    def index_path(self) -> Path:
        return self.folder / INDEX_FILE

    def path(self, clip_id: str) -> Path:
        return self.folder / f"{clip_id}.npy"

    def meta(self) -> dict[str, Any] | None:
        if not self.meta_path.is_file():
            return None
        return json.loads(self.meta_path.read_text(encoding="utf-8"))

    def prepare(self, config: dict[str, Any]) -> str:
        """Record the backbone config this run extracts with; returns its hash."""
        digest = config_hash(config)
        old = self.meta()
        if old is not None and old.get("config_hash") != digest:
            log.warning("%s features: backbone settings changed (%s → %s); clips made with the old ones will be "
                        "re-extracted", self.modality, old.get("config_hash"), digest)
        meta = {
            "modality": self.modality,
            "backbone": config.get("backbone"),
            "source": config.get("source"),
            "dim": config.get("dim"),
            "dtype": np.dtype(DTYPE).name,
            "config": config,
            "config_hash": digest,
            "mmer_version": __version__,
            "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.meta_path, meta)
        self._update_summary(meta)
        return digest

    def _update_summary(self, meta: dict[str, Any]) -> None:
        summary_path = self.root / META_FILE
        summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
        summary[self.modality] = {k: meta[k] for k in ("backbone", "source", "dim", "config_hash", "config")}
        write_json_atomic(summary_path, summary)

    def index(self) -> dict[str, str]:
        """clip_id → config hash of its file, for clips whose file exists (last line wins)."""
        return {cid: entry["config_hash"] for cid, entry in self._entries().items()}

    def seconds(self) -> dict[str, float]:
        """clip_id → the clip's length in seconds, where the index records it."""
        return {cid: float(entry["seconds"]) for cid, entry in self._entries().items()
                if isinstance(entry.get("seconds"), (int, float))}

    def _entries(self) -> dict[str, dict[str, Any]]:
        entries: dict[str, dict[str, Any]] = {}
        if self.index_path.is_file():
            for line in self.index_path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    entry["config_hash"]  # noqa: B018 - a line without it is damaged
                    entries[entry["clip_id"]] = entry
                except (json.JSONDecodeError, KeyError, TypeError):
                    log.warning("%s: skipping a damaged index line", self.index_path)
        return {cid: e for cid, e in entries.items() if self.path(cid).is_file()}

    def write(self, clip_id: str, features: np.ndarray, digest: str, *, seconds: float | None = None) -> None:
        """Store one clip's features (float16) atomically, then record it in the index, with the
        clip's length (training serves windows of the clips' typical length)."""
        array = np.asarray(features, dtype=np.float32).astype(DTYPE)
        if not np.isfinite(array).all():
            raise InvalidValue(f"{clip_id}: features contain NaN or inf (or exceed float16's range)")
        with atomic_path(self.path(clip_id)) as tmp, open(tmp, "wb") as fh:
            np.save(fh, array)
        with open(self.index_path, "a", encoding="utf-8") as fh:
            entry = {"clip_id": clip_id, "config_hash": digest, "shape": list(array.shape)}
            if seconds is not None:
                entry["seconds"] = round(float(seconds), 4)
            fh.write(json.dumps(entry) + "\n")

    def read(self, clip_id: str) -> np.ndarray:
        return np.load(self.path(clip_id))

    def clip_ids(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.npy") if not p.name.startswith("."))

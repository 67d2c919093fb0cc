"""On-disk cache of finished pipeline stages.

Each stage writes its outputs into ``<out_dir>/stages/<stage>/`` together with
a ``manifest.json`` holding a key: a hash of everything the stage depends on
(input files with their sizes and modification times, parameters, software
version). A re-run whose key matches reuses the folder; any change reruns
the stage. A stage is written into a temporary folder and renamed into place
when complete, so a crash or a cancel never leaves a half-written stage that
looks finished.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from kneeviewer import __version__

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


def file_fingerprint(path: Path | None) -> Any:
    """Describe a file or folder by path, size and modification time (cheap, no hashing of contents)."""
    if path is None:
        return None
    path = Path(path)
    if path.is_dir():
        entries = sorted(p for p in path.rglob("*") if p.is_file())
        return [str(path.resolve()), len(entries), sum(p.stat().st_size for p in entries), max((p.stat().st_mtime_ns for p in entries), default=0)]
    if path.is_file():
        stat = path.stat()
        return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]
    return [str(path), None]


def stage_key(stage: str, payload: dict) -> str:
    """Return the cache key of a stage from a JSON-serialisable description of its dependencies."""
    text = json.dumps({"stage": stage, "version": __version__, "payload": payload}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class StageCache:
    """Folders of finished stages under ``<out_dir>/stages``."""

    def __init__(self, out_dir: Path) -> None:
        self.root = Path(out_dir) / "stages"

    def folder(self, stage: str) -> Path:
        """Folder of a finished stage."""
        return self.root / stage

    def lookup(self, stage: str, key: str) -> Path | None:
        """Return the folder of ``stage`` if it was finished with ``key``, else None."""
        manifest = self.folder(stage) / MANIFEST
        if not manifest.is_file():
            return None
        try:
            recorded = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            log.warning("Ignoring unreadable stage manifest %s", manifest)
            return None
        if recorded.get("key") != key:
            log.info("Stage %s changed (inputs or parameters differ); it will run again", stage)
            return None
        return self.folder(stage)

    def begin(self, stage: str) -> Path:
        """Return an empty temporary folder to write a stage into."""
        self.root.mkdir(parents=True, exist_ok=True)
        temporary = self.root / f".{stage}.partial-{os.getpid()}"
        if temporary.exists():
            shutil.rmtree(temporary)
        temporary.mkdir()
        return temporary

    def commit(self, stage: str, key: str, temporary: Path, extra: dict | None = None) -> Path:
        """Mark a stage finished: write its manifest and move it into place."""
        manifest = {"stage": stage, "key": key, "version": __version__, **(extra or {})}
        (temporary / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
        final = self.folder(stage)
        if final.exists():
            shutil.rmtree(final)
        temporary.rename(final)
        return final

    def discard(self, temporary: Path) -> None:
        """Remove the temporary folder of a stage that did not finish."""
        shutil.rmtree(temporary, ignore_errors=True)

    def finished_stages(self) -> list[str]:
        """Names of the stages whose folders are complete."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / MANIFEST).is_file())

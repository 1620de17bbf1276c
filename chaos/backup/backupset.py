"""One backup set being written: its folder and manifest, shared by the writers of its parts (the
snapshot, the continuous backup's thread, the export), each adding files under one lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from chaos.backup.layout import Manifest, verify
from contract.errors import UsageError


class BackupSet:
    def __init__(self, folder: Path, manifest: Manifest) -> None:
        self.folder = folder
        self.manifest = manifest
        self._lock = threading.Lock()

    @classmethod
    def create(cls, folder: Path, database: str, set_name: str | None) -> BackupSet:
        if folder.exists() and any(folder.iterdir()):
            raise UsageError(f"{folder}: exists and is not empty (a backup set goes into a new folder)")
        folder.mkdir(parents=True, exist_ok=True)
        found = cls(folder, Manifest(created_at=time.time(), set_name=set_name, database=database))
        found.manifest.save(folder)
        return found

    @classmethod
    def open(cls, folder: Path) -> BackupSet:
        """An existing set, verified first."""
        return cls(folder, verify(folder))

    def add(self, files: Iterable[str], update: Callable[[Manifest], None] = lambda m: None) -> None:
        """Record files already in place (and whatever `update` changes), then save the manifest."""
        with self._lock:
            update(self.manifest)
            self.manifest.record(self.folder, files)
            self.manifest.save(self.folder)

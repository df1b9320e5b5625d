"""On-disk cache of converted models (OpenVINO IR, ONNX files), keyed by what shapes them.

Location: ``$HWBENCH_CACHE_DIR``, else ``~/.cache/hwbench``. Entries are written to a
temporary name and renamed into place, so a killed conversion never leaves a half file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

META_FILE = "meta.json"  # written last into every entry: an entry with it is complete


def cache_root() -> Path:
    root = Path(os.environ.get("HWBENCH_CACHE_DIR") or Path.home() / ".cache" / "hwbench")
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_entry(kind: str, **key: Any) -> Path:
    """Directory for one converted model: ``<root>/<kind>/<model>-<hash of the key>``.

    ``key`` must hold everything that changes the converted file (model, weights hash,
    input shape, precision, converter versions, ...).
    """
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    model = str(key.get("model", "model")).replace("/", "--")
    path = cache_root() / kind / f"{model}-{digest}"
    return path


def write_entry(entry: Path, build: Callable[[Path], Any]) -> bool:
    """``build(tmp_dir)`` into a fresh temporary directory beside ``entry``, then rename it into
    place; False if a concurrent writer's complete entry (one with :data:`META_FILE`) won the race.
    The temporary directory is removed whatever happens, so no half-written entry is left."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.tmp-", dir=entry.parent))
    try:
        build(tmp)
        try:
            os.replace(tmp, entry)
        except OSError:  # the entry appeared meanwhile (a concurrent conversion): keep that one
            if not (entry / META_FILE).exists():
                raise
            return False
        return True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

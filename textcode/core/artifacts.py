"""The only code that knows file formats and how an output folder is made.

Formats: `.npy` (memory-mappable arrays), safetensors (weights and codecs), Parquet
(tables), JSON (configs, manifests, metrics). Nothing here uses pickle.

An output folder is written as `<out>.partial/` and renamed to `<out>/` only when complete;
`manifest.json` is written last and is what Make depends on and what downstream stages
check before reading.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from textcode.core.errors import ProjectError

MANIFEST = "manifest.json"


class ArtifactError(ProjectError, RuntimeError):
    """A missing, incomplete or mismatching artifact."""


# ----------------------------------------------------------------------------- plain files

def write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically (temp file + rename): a reader never sees half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path: str | Path, obj: Any) -> None:
    """Write JSON atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def write_json_if_changed(path: str | Path, obj: Any) -> bool:
    """Write only when the content differs, so Make sees an unchanged mtime otherwise."""
    path = Path(path)
    text = json.dumps(obj, indent=2, default=_json_default) + "\n"
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    write_text(path, text)
    return True


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def save_npy(path: str | Path, array: np.ndarray) -> None:
    np.save(Path(path), np.ascontiguousarray(array), allow_pickle=False)


def load_npy(path: str | Path, mmap: bool = True) -> np.ndarray:
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: file not found")
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def save_table(path: str | Path, columns: Mapping[str, Any]) -> None:
    """Write a Parquet table from named columns (lists or 1-D arrays)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({k: pa.array(v) for k, v in columns.items()}), Path(path))


def load_table(path: str | Path, columns: list[str] | None = None) -> dict[str, np.ndarray]:
    """Read a Parquet table into numpy arrays (strings become object arrays)."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: file not found")
    table = pq.read_table(path, columns=columns)
    return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}


def save_tensors(path: str | Path, tensors: Mapping[str, Any], metadata_: Mapping[str, str] | None = None) -> None:
    """safetensors file from numpy arrays or torch tensors (metadata values must be strings)."""
    arrays = {k: _to_numpy(v) for k, v in tensors.items()}
    from safetensors.numpy import save_file

    save_file(arrays, str(path), metadata=dict(metadata_ or {}))


def load_tensors(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(arrays, metadata) from a safetensors file."""
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: file not found")
    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata() or {}
        arrays = {k: f.get_tensor(k) for k in f.keys()}
    return arrays, meta


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return np.ascontiguousarray(value)
    if hasattr(value, "detach"):  # torch tensor, without importing torch here
        return np.ascontiguousarray(value.detach().cpu().numpy())
    return np.ascontiguousarray(np.asarray(value))


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# ----------------------------------------------------------------------------- manifests

def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of a finished stage output; a clear error if the stage never finished."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.exists():
        partial = folder.with_name(folder.name + ".partial")
        hint = f" (an unfinished run left {partial})" if partial.exists() else ""
        raise ArtifactError(f"{folder}: no {MANIFEST}; the stage that writes it has not finished{hint}")
    return read_json(path)


def environment() -> dict[str, Any]:
    versions = {}
    for pkg in ("numpy", "torch", "transformers", "faiss-cpu", "faiss-gpu", "safetensors", "pyarrow", "datasets"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return {"python": sys.version.split()[0], "platform": platform.platform(), "packages": versions, "git": _git_state()}


def _git_state() -> dict[str, Any] | None:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if commit.returncode != 0:
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


class OutputFolder:
    """Write a stage's outputs into `<out>.partial/`, then rename to `<out>/` with a manifest.

    Files are written through `path(name)`. With `resume=True` an existing `.partial`
    folder made with the same config is kept, so a killed stage can continue from the
    pieces it already wrote (e.g. encoded shards, checkpoints).
    """

    def __init__(self, out: str | Path, stage: str, config: Mapping[str, Any], inputs: Mapping[str, str | Path] | None = None,
                 resume: bool = False):
        self.out = Path(out)
        self.tmp = self.out.with_name(self.out.name + ".partial")
        self.stage = stage
        self.config = dict(config)
        self.inputs = {k: Path(v) for k, v in (inputs or {}).items()}
        self.resume = resume
        self.summary: dict[str, Any] = {}
        self._start = time.time()

    def __enter__(self) -> "OutputFolder":
        stamp = self.tmp / ".config.json"
        keep = self.resume and stamp.exists() and read_json(stamp) == self.config
        if self.tmp.exists() and not keep:
            shutil.rmtree(self.tmp)
        self.tmp.mkdir(parents=True, exist_ok=True)
        write_json(stamp, self.config)
        return self

    def path(self, name: str) -> Path:
        p = self.tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            return  # leave .partial for resume / inspection; the final folder is untouched
        self.finish()

    def finish(self) -> Path:
        (self.tmp / ".config.json").unlink(missing_ok=True)
        outputs = {}
        for p in sorted(self.tmp.rglob("*")):
            if p.is_file():
                rel = str(p.relative_to(self.tmp))
                info: dict[str, Any] = {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
                if p.suffix == ".npy":
                    arr = np.load(p, mmap_mode="r", allow_pickle=False)
                    info.update(shape=list(arr.shape), dtype=str(arr.dtype))
                outputs[rel] = info
        manifest = {
            "stage": self.stage,
            "config": self.config,
            "inputs": {name: {"path": str(path), "manifest_sha256": _manifest_digest(path)} for name, path in self.inputs.items()},
            "outputs": outputs,
            "summary": self.summary,
            "environment": environment(),
            "wall_s": round(time.time() - self._start, 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        write_json(self.tmp / MANIFEST, manifest)
        old = self.out.with_name(self.out.name + f".old-{os.getpid()}")
        if self.out.exists():
            os.replace(self.out, old)
        os.replace(self.tmp, self.out)
        if old.exists():
            shutil.rmtree(old)
        return self.out


def _manifest_digest(folder: Path) -> str | None:
    path = folder / MANIFEST if folder.is_dir() else folder
    return sha256_file(path) if path.exists() else None

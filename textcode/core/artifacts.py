"""The only code that knows file formats and how an output folder is made.

Formats: `.npy` (memory-mappable arrays), safetensors (weights and codecs), Parquet
(tables), JSON (configs, manifests, metrics). Nothing here uses pickle.

An output folder is written as `<out>.partial/` and renamed to `<out>/` only when complete;
`manifest.json` is written last and is what Make depends on and what downstream stages
check before reading. One process at a time builds an output: it holds an exclusive lock on `<out>.lock`
(textcode.core.locks), and a finished output replaces the previous one atomically.
"""
from __future__ import annotations

import errno
import hashlib
import json
import logging
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

from textcode.core.errors import ArtifactError
from textcode.core.locks import OutputLock, replace_folder

MANIFEST = "manifest.json"

log = logging.getLogger("artifacts")


# ----------------------------------------------------------------------------- plain files

def write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically (temp file + rename): a reader never sees half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _write_failed(path, exc, remove=tmp) from exc  # the previous file at `path` stays
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
    """Parse a JSON file; one inside a finished output folder is first checked against its manifest."""
    path = Path(path)
    if path.name != MANIFEST and path.exists():
        verify_file(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}{_read_hint(path)}") from exc
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"{path}: not UTF-8 text ({exc}){_read_hint(path)}") from exc


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
    """Write an array; a failed write (disk full) removes the half-written file and names it."""
    path = Path(path)
    try:
        np.save(path, np.ascontiguousarray(array), allow_pickle=False)
    except OSError as exc:
        raise _write_failed(path, exc) from exc


def load_npy(path: str | Path, mmap: bool = True) -> np.ndarray:
    """An array; one inside a finished output folder is first checked against its manifest."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: file not found")
    verify_file(path)
    return _np_load(path, mmap)


def save_table(path: str | Path, columns: Mapping[str, Any]) -> None:
    """Write a Parquet table from named columns (lists or 1-D arrays)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({k: pa.array(v) for k, v in columns.items()})
    try:
        pq.write_table(table, Path(path))
    except OSError as exc:
        raise _write_failed(Path(path), exc) from exc


def load_table(path: str | Path, columns: list[str] | None = None) -> dict[str, np.ndarray]:
    """Read a Parquet table into numpy arrays (strings become object arrays)."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: file not found")
    verify_file(path)
    try:
        table = pq.read_table(path, columns=columns)
    except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid / ArrowIOError
        raise ArtifactError(f"{path}: unreadable Parquet table ({exc}){_read_hint(path)}") from exc
    return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}


def save_tensors(path: str | Path, tensors: Mapping[str, Any], metadata_: Mapping[str, str] | None = None) -> None:
    """safetensors file from numpy arrays or torch tensors (metadata values must be strings)."""
    arrays = {k: _to_numpy(v) for k, v in tensors.items()}
    from safetensors.numpy import save_file

    meta = dict(metadata_ or {})
    try:
        # no tensors and an empty metadata dict make a header safetensors cannot read back: pass None then
        save_file(arrays, str(path), metadata=meta if (meta or arrays) else None)
    except Exception as exc:  # safetensors reports I/O failures as its own error type
        if isinstance(exc, OSError) or _disk_full(exc):
            raise _write_failed(Path(path), exc) from exc
        raise


def load_tensors(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(arrays, metadata) from a safetensors file."""
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: file not found")
    verify_file(path)
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors' own error type for a truncated or corrupt file
        raise ArtifactError(f"{path}: unreadable safetensors file, truncated or corrupt ({exc}){_read_hint(path)}") from exc
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


# ----------------------------------------------------------------------------- verification on read
#
# Every file a finished output folder holds is listed in its manifest with its size and SHA-256.
# Readers check a file against that record before using it (`verify_file`), once per file per
# process (a cache keyed by path, re-checked when the file's size, mtime or inode change), so a
# truncated, edited or bit-flipped artifact is refused with the file named instead of being read.
# TEXTCODE_VERIFY=sizes checks sizes only (no hashing); the default, full, also hashes.

VERIFY_ENV = "TEXTCODE_VERIFY"
VERIFY_MODES = ("full", "sizes")
EMBEDDING_LIMIT = 1e6  # |value| above this is refused: no text encoder makes it, and float32 distances overflow

_VERIFIED: dict[Path, tuple[tuple[int, int, int], str]] = {}  # file -> (stat signature, mode it passed)
_MANIFESTS: dict[Path, tuple[tuple[int, int, int], dict[str, Any]]] = {}


def verify_mode() -> str:
    """`full` (size + SHA-256, the default) or `sizes` (size only), from the TEXTCODE_VERIFY variable."""
    mode = os.environ.get(VERIFY_ENV, "").strip().lower() or "full"
    if mode not in VERIFY_MODES:
        raise ArtifactError(f"{VERIFY_ENV}={mode!r}: expected one of {', '.join(VERIFY_MODES)}")
    return mode


def clear_verified() -> None:
    """Forget which files this process has verified (they are checked again on their next read)."""
    _VERIFIED.clear()
    _MANIFESTS.clear()


def verify_file(path: str | Path) -> bool:
    """Check a file of a finished output folder against its manifest (size, SHA-256 in full mode, and the
    content checks of embeddings and codes); True when checked, False when no manifest lists the file
    (a config, a file inside a `.partial` folder). A mismatch is an ArtifactError naming the file."""
    owner = _owner(Path(path))
    if owner is None:
        return False
    folder, rel = owner
    manifest = _manifest_of(folder)
    entry = (manifest.get("outputs") or {}).get(rel)
    if entry is None:
        return False
    _verify_entry(folder, rel, entry, manifest, verify_mode())
    return True


def verify_folder(folder: str | Path) -> dict[str, Any]:
    """Check every output a finished folder's manifest lists (see `verify_file`); its manifest."""
    folder = Path(folder)
    read_manifest(folder)  # the clear "never finished" error
    manifest = _manifest_of(Path(os.path.abspath(folder)))
    mode = verify_mode()
    for rel, entry in sorted((manifest.get("outputs") or {}).items()):
        _verify_entry(Path(os.path.abspath(folder)), rel, entry, manifest, mode)
    return manifest


def copy_verified(src: str | Path, dst: str | Path) -> None:
    """Copy a file of a finished output folder, hashing it while copying: the copy is kept only when its
    bytes are those the manifest records (in either verification mode). Never copies an unverified file."""
    src, dst = Path(src), Path(dst)
    owner = _owner(src)
    manifest = _manifest_of(owner[0]) if owner else {}
    entry = (manifest.get("outputs") or {}).get(owner[1]) if owner else None
    if entry is None:
        raise ArtifactError(f"{src}: no finished output's manifest lists this file; refusing to copy an unverified file")
    folder, rel = owner
    _verify_entry(folder, rel, entry, manifest, "sizes")  # size and content checks before copying anything
    h, n = hashlib.sha256(), 0
    try:
        with open(src, "rb") as fin, open(dst, "wb") as fout:
            while block := fin.read(1 << 22):
                h.update(block)
                fout.write(block)
                n += len(block)
    except OSError as exc:
        dst.unlink(missing_ok=True)
        raise _write_failed(dst, exc) from exc
    if n != entry.get("bytes") or h.hexdigest() != entry.get("sha256"):
        dst.unlink(missing_ok=True)
        raise ArtifactError(f"{folder / rel}: content differs from {folder / MANIFEST} (sha256 {h.hexdigest()[:12]}..., "
                            f"recorded {str(entry.get('sha256'))[:12]}...); not copied. {_redo(folder, manifest)}")
    st = (folder / rel).stat()
    _VERIFIED[folder / rel] = ((st.st_size, st.st_mtime_ns, st.st_ino), "full")


def check_embeddings(x: np.ndarray, path: str | Path, hint: str = "") -> None:
    """Refuse embeddings that are not (n, d) or hold a non-finite or huge value, naming the first bad row."""
    if x.ndim != 2:
        raise ArtifactError(f"{path}: embeddings must be (items, dim), found shape {tuple(x.shape)}{hint}")
    step = max(1, (1 << 24) // max(x.shape[1], 1))
    for lo in range(0, len(x), step):
        block = np.asarray(x[lo:lo + step])
        finite = np.isfinite(block).all(1)
        large = np.abs(np.where(np.isfinite(block), block, 0)).max(1, initial=0) > EMBEDDING_LIMIT
        bad = np.flatnonzero(~finite | large)
        if len(bad):
            row = lo + int(bad[0])
            what = "a non-finite value (NaN or inf)" if not finite[bad[0]] else f"a value above {EMBEDDING_LIMIT:g} in magnitude"
            total = int((~np.isfinite(np.asarray(x)).all(1)).sum()) if not finite[bad[0]] else None
            more = f" ({total} such row(s) in all)" if total else ""
            raise ArtifactError(f"{path}: row {row} (item {row}) holds {what}{more}{hint}")


def check_codes(codes: np.ndarray, n_centroids: int, path: str | Path, hint: str = "") -> None:
    """Refuse codes that are not (n, D) integers in [0, n_centroids), naming the first bad row and sub-space."""
    if codes.ndim != 2 or not np.issubdtype(codes.dtype, np.integer):
        raise ArtifactError(f"{path}: codes must be (items, sub-spaces) integers, found {codes.dtype} {tuple(codes.shape)}{hint}")
    bad = np.argwhere((codes < 0) | (codes >= n_centroids))
    if len(bad):
        row, col = (int(v) for v in bad[0])
        raise ArtifactError(f"{path}: code {int(codes[row, col])} at row {row}, sub-space {col} is outside "
                            f"[0, {n_centroids}) ({len(bad)} bad code(s) in all){hint}")


def _owner(path: Path) -> tuple[Path, str] | None:
    """(the finished output folder holding `path`: its nearest ancestor with a manifest, path's name there);
    None inside a `.partial` folder or outside any output folder."""
    path = Path(os.path.abspath(path))
    for parent in path.parents:
        if parent.name.endswith(".partial"):
            return None
        if (parent / MANIFEST).is_file():
            return parent, path.relative_to(parent).as_posix()
    return None


def _signature(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns, st.st_ino


def _manifest_of(folder: Path) -> dict[str, Any]:
    """A folder's parsed manifest, cached while the file is unchanged."""
    path = folder / MANIFEST
    sig = _signature(path)
    hit = _MANIFESTS.get(path)
    if hit is not None and hit[0] == sig:
        return hit[1]
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: unreadable manifest ({exc}); delete {folder} and rerun the stage that writes it") from exc
    if not isinstance(doc, dict):
        raise ArtifactError(f"{path}: not a manifest (a JSON object is expected); delete {folder} and rerun its stage")
    _MANIFESTS[path] = (sig, doc)
    return doc


def _redo(folder: Path, manifest: Mapping[str, Any] | None = None) -> str:
    stage = (manifest or {}).get("stage")
    by = f"`textcode {stage}`" if stage else "the stage that writes it"
    return f"Rerun {by}: delete {folder} and make it again (e.g. `make` its manifest.json)"


def _verify_entry(folder: Path, rel: str, entry: Mapping[str, Any], manifest: Mapping[str, Any], mode: str) -> None:
    path = folder / rel
    try:
        sig = _signature(path)
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing, but {folder / MANIFEST} lists it. {_redo(folder, manifest)}") from None
    done = _VERIFIED.get(path)
    if done is not None and done[0] == sig and (done[1] == "full" or mode == "sizes"):
        return
    if sig[0] != entry.get("bytes"):
        raise ArtifactError(f"{path}: {sig[0]} bytes, but {folder / MANIFEST} records {entry.get('bytes')} "
                            f"(truncated or changed after the stage finished). {_redo(folder, manifest)}")
    if mode == "full":
        digest = sha256_file(path)
        if digest != entry.get("sha256"):
            raise ArtifactError(f"{path}: content differs from {folder / MANIFEST} (sha256 {digest[:12]}..., recorded "
                                f"{str(entry.get('sha256'))[:12]}...): changed or corrupted after the stage finished. "
                                f"{_redo(folder, manifest)}")
    _check_content(path, rel, manifest, f". {_redo(folder, manifest)}")
    _VERIFIED[path] = (sig, mode)


def _check_content(path: Path, rel: str, manifest: Mapping[str, Any], hint: str) -> None:
    """What an embeddings or codes file must hold beyond its recorded bytes (checked once, with them)."""
    name = Path(rel).name
    if manifest.get("stage") == "encode" and name == "embeddings.npy":
        check_embeddings(_np_load(path, mmap=True), path, hint)
    elif name == "codes.npy":
        summary, config = manifest.get("summary") or {}, manifest.get("config") or {}
        n = summary.get("n_centroids") or (config.get("codes") or {}).get("n_centroids")
        if isinstance(n, int):
            check_codes(_np_load(path, mmap=True), n, path, hint)


def _partial_of(path: Path) -> Path | None:
    """The `.partial` folder `path` lies in, if any."""
    for parent in Path(os.path.abspath(path)).parents:
        if parent.name.endswith(".partial"):
            return parent
    return None


def _read_hint(path: Path) -> str:
    """What to do about an unreadable file: start its unfinished stage over, or rerun the stage that made it."""
    partial = _partial_of(path)
    if partial is not None:
        return f"; delete {partial} to start that stage over (a rerun would read the same file)"
    owner = _owner(path)
    if owner is not None:
        return f". {_redo(owner[0])}"
    return ""


def _disk_full(exc: BaseException) -> bool:
    
    text = str(exc).lower()
    return (getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "requested and" in text
            or "no space left" in text or "os error 28" in text or "storagefull" in text)


def _write_failed(path: Path, exc: BaseException, remove: Path | None = None) -> ArtifactError:
    """The error for a failed write of `path`, after removing the half-written file (`remove`, default `path`)."""
    try:
        Path(remove or path).unlink(missing_ok=True)
    except OSError:
        pass
    partial = _partial_of(Path(path))
    if not _disk_full(exc):
        return ArtifactError(f"{path}: could not write it ({exc})")
    if partial is not None:
        out = partial.with_name(partial.name[: -len(".partial")])
        where = (f"; delete {partial} to free the space it takes (a previous complete {out}, if any, is untouched), "
                 "then free more space and rerun")
    else:
        where = "; free space and rerun"
    return ArtifactError(f"{path}: disk full while writing it ({exc}){where}")


def _np_load(path: Path, mmap: bool) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        raise ArtifactError(f"{path}: unreadable .npy file, truncated or corrupt ({exc}){_read_hint(path)}") from exc


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
    from textcode.runtime.device import describe

    machine = describe()  # which CPU made an artifact: its timings depend on it
    return {"python": sys.version.split()[0], "platform": platform.platform(), "packages": versions, "git": _git_state(),
            "machine": {k: machine[k] for k in ("cpu", "cores", "simd")}}


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

    Entering takes the output's lock (`OutputLock`) before touching `<out>.partial`, so a second
    build of the same output fails at once naming the process that holds it (or waits up to
    `wait` seconds; default `$TEXTCODE_LOCK_WAIT`, else 0). `finish()` and an error leaving the
    `with` block release it; so does the process's death. A finished output replaces the previous
    one atomically (`_replace_folder`): `<out>` is never missing once it existed.
    """

    def __init__(self, out: str | Path, stage: str, config: Mapping[str, Any], inputs: Mapping[str, str | Path] | None = None,
                 resume: bool = False, wait: float | None = None):
        self.out = Path(out)
        self.tmp = self.out.with_name(self.out.name + ".partial")
        self.stage = stage
        self.config = dict(config)
        self.inputs = {k: Path(v) for k, v in (inputs or {}).items()}
        self.resume = resume
        self.summary: dict[str, Any] = {}
        self.lock = OutputLock(self.out, wait)
        self._start = time.time()

    def __enter__(self) -> "OutputFolder":
        self.lock.acquire()  # before touching <out>.partial: from here on no other process builds <out>
        try:
            _recover(self.out, self.tmp)
            stamp = self.tmp / ".config.json"
            keep = self.resume and stamp.exists() and read_json(stamp) == self.config
            if self.tmp.exists() and not keep:
                shutil.rmtree(self.tmp)  # a dead run's leftovers (we hold the lock, so no live process owns it)
            self.tmp.mkdir(parents=True, exist_ok=True)
            write_json(stamp, self.config)
        except BaseException:
            self.lock.release()
            raise
        return self

    def path(self, name: str) -> Path:
        p = self.tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.lock.release()
            return  # leave .partial for resume / inspection; the final folder is untouched
        self.finish()

    def finish(self) -> Path:
        try:
            return self._finish()
        finally:
            self.lock.release()

    def _finish(self) -> Path:
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
            "peak_rss_mb": peak_rss_mb(),  # of the process that made it (every stage runs in its own)
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        write_json(self.tmp / MANIFEST, manifest)
        replace_folder(self.tmp, self.out)
        return self.out


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, MB (Linux reports KiB; macOS bytes)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 1024), 1)


def _recover(out: Path, tmp: Path) -> None:
    """Finish what a build killed inside `replace_folder` left (the caller holds the lock, so that
    build is dead): with `<out>` missing, a `.partial` holding a manifest and no config stamp is a
    finished output and takes its place, else an `<out>.old-<pid>` with a manifest is put back. Then
    old outputs moved aside are deleted."""
    if not out.parent.is_dir():
        return
    olds = sorted(p for p in out.parent.iterdir() if p.name.startswith(out.name + ".old-") and p.is_dir())
    if not out.exists():
        if (tmp / MANIFEST).exists() and not (tmp / ".config.json").exists():
            log.warning("%s: completing an interrupted replacement with the finished %s", out, tmp)
            os.rename(tmp, out)
        else:
            for old in olds:
                if (old / MANIFEST).exists():
                    log.warning("%s: restoring the previous output from %s", out, old)
                    os.rename(old, out)
                    break
    for old in olds:
        if old.exists():
            shutil.rmtree(old)


def _manifest_digest(folder: Path) -> str | None:
    path = folder / MANIFEST if folder.is_dir() else folder
    return sha256_file(path) if path.exists() else None

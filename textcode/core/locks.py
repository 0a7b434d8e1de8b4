"""One builder per output folder, and replacing a finished folder without a moment in which neither exists.

`OutputLock` is an exclusive `fcntl.flock` on `<out>.lock` next to the output folder;
`replace_folder` swaps a finished folder into place (Linux renameat2 RENAME_EXCHANGE where the file
system has it). textcode.core.artifacts.OutputFolder uses both.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import functools
import logging
import os
import shutil
import time
from pathlib import Path

from textcode.core.errors import ArtifactError

LOCK_WAIT_ENV = "TEXTCODE_LOCK_WAIT"

log = logging.getLogger("artifacts")


def lock_wait() -> float:
    """Seconds a build waits for another build of the same output: `$TEXTCODE_LOCK_WAIT` (default 0,
    fail at once; `inf` or a negative number: wait as long as it takes)."""
    raw = os.environ.get(LOCK_WAIT_ENV, "").strip()
    if not raw:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise ArtifactError(f"${LOCK_WAIT_ENV}={raw!r}: expected the seconds to wait for another build of the same "
                            "output (0: fail at once, inf: wait as long as it takes)") from None
    return float("inf") if value < 0 else value


class OutputLock:
    """An exclusive `fcntl.flock` on `<out>.lock` (next to the output folder) while one process builds `<out>`.

    The holder writes its PID into the file. Another process asking for it fails at once with an
    ArtifactError naming that PID, or polls for up to `wait` seconds (None: `lock_wait()`). The
    kernel drops the lock when its holder dies, however it dies, so a stale lock file never blocks.
    `release` unlinks the file while still holding the lock; `acquire` therefore checks, once it
    holds a lock, that the path still names the file it locked, and starts again otherwise.
    """

    def __init__(self, out: str | Path, wait: float | None = None):
        self.out = Path(out)
        self.path = self.out.with_name(self.out.name + ".lock")
        self.wait = wait
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "OutputLock":
        if self._fd is not None:
            return self
        wait = lock_wait() if self.wait is None else (float("inf") if self.wait < 0 else float(self.wait))
        deadline = time.monotonic() + wait
        self.path.parent.mkdir(parents=True, exist_ok=True)
        told = False
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _lock_holder(fd)
                os.close(fd)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ArtifactError(f"{self.out} is already being built by PID {holder} (lock {self.path}); "
                                        "wait for it or stop it") from None
                if not told:
                    log.info("%s is being built by PID %s; waiting for it (lock %s)", self.out, holder, self.path)
                    told = True
                time.sleep(min(0.2, left))
                continue
            except BaseException:
                os.close(fd)
                raise
            try:
                mine = os.stat(self.path)
                same = (mine.st_dev, mine.st_ino) == (os.fstat(fd).st_dev, os.fstat(fd).st_ino)
            except FileNotFoundError:
                same = False
            if not same:  # its holder released (and unlinked) it between our open and flock: try again
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            self._fd = fd
            return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # while still holding it (see the class docstring)
        finally:
            os.close(fd)

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.release()


def _lock_holder(fd: int) -> str:
    """The PID written into a lock file by its holder ("unknown" if it has not written it yet)."""
    for _ in range(20):  # the holder writes its PID just after taking the lock
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
        if text:
            return text
        time.sleep(0.025)
    return "unknown"


def replace_folder(new: Path, out: Path) -> None:
    """Move the finished folder `new` to `out`, replacing a previous `out` without a moment in which
    neither exists: an atomic exchange of the two (Linux renameat2), then the old one is moved aside
    and deleted. Where the file system cannot exchange, the old one is moved aside first and the new
    one into place; `artifacts._recover` completes that if the process died between the two renames."""
    if not out.exists():
        os.rename(new, out)
        return
    aside = out.with_name(f"{out.name}.old-{os.getpid()}")
    if _exchange(new, out):
        os.rename(new, aside)  # `new` now names the previous output
    else:
        os.rename(out, aside)
        os.rename(new, out)
    shutil.rmtree(aside, ignore_errors=True)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@functools.lru_cache(maxsize=1)
def _renameat2():
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths atomically (renameat2 RENAME_EXCHANGE); False where the system cannot."""
    fn = _renameat2()
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))

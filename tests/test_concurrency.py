"""Concurrent and interrupted builds of one output folder (`artifacts.OutputFolder`, `OutputLock`).

Each build runs in its own process (a small builder script, or the `textcode` command line), so the
locks are real `flock`s between processes and "killed" means killed."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from textcode.core import artifacts, locks

ROOT = Path(__file__).resolve().parents[1]

# argv: out, ready-file, seconds to hold, mode (ok | fail | resume), label; patches: python run first
BUILDER = r"""
import logging, os, sys, time
from pathlib import Path
from textcode.core import artifacts, locks
logging.basicConfig(level=logging.INFO)
{patch}
out, ready, hold, mode, label = sys.argv[1:6]
with artifacts.OutputFolder(out, "toy", {{"stage": "toy"}}, resume=mode == "resume") as o:
    o.path("label.txt").write_text(label)
    o.path("sub/data.bin").write_bytes(label.encode() * 50_000)
    Path(ready).touch()
    time.sleep(float(hold))
    if mode == "fail":
        raise RuntimeError("the stage failed")
    o.summary["label"] = label
"""


def _builder(tmp_path: Path, out: Path, label: str, hold: float = 0.0, mode: str = "ok", patch: str = "",
             env: dict | None = None) -> tuple[subprocess.Popen, Path]:
    script = tmp_path / f"build_{label}.py"
    script.write_text(BUILDER.format(patch=patch))
    ready = tmp_path / f"ready_{label}"
    proc = subprocess.Popen([sys.executable, str(script), str(out), str(ready), str(hold), mode, label],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, **(env or {})})
    return proc, ready


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"builder exited early: {proc.communicate()}"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def _build(tmp_path: Path, out: Path, label: str, **kw) -> subprocess.CompletedProcess:
    proc, _ = _builder(tmp_path, out, label, **kw)
    stdout, stderr = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _verify(out: Path) -> dict:
    """The manifest of `out`, after checking it lists exactly the files there, with their sizes and hashes."""
    manifest = json.loads((out / artifacts.MANIFEST).read_text())
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} - {artifacts.MANIFEST}
    assert files == set(manifest["outputs"]), (files, manifest["outputs"])
    for rel, info in manifest["outputs"].items():
        data = (out / rel).read_bytes()
        assert len(data) == info["bytes"] and hashlib.sha256(data).hexdigest() == info["sha256"], rel
    return manifest


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name and p.name.startswith(out.name))


def test_second_build_of_the_same_output_fails_naming_the_first(tmp_path):
    out = tmp_path / "art" / "toy"
    first, ready = _builder(tmp_path, out, "first", hold=3.0)
    _wait_for(ready, first)
    second = _build(tmp_path, out, "second")  # a non-resuming builder: it must not touch first's .partial
    assert second.returncode != 0
    assert f"{out} is already being built by PID {first.pid}" in second.stderr
    assert "wait for it or stop it" in second.stderr
    # the command line: one line, exit 2
    cli = subprocess.run([sys.executable, "-m", "textcode", "prepare", "--domain", "demo-scientific", "--out", str(out)],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert cli.returncode == 2, cli.stderr
    assert f"already being built by PID {first.pid} (lock {out}.lock)" in cli.stderr
    assert "Traceback" not in cli.stderr
    assert first.wait(timeout=30) == 0, first.communicate()
    manifest = _verify(out)
    assert manifest["summary"] == {"label": "first"} and (out / "label.txt").read_text() == "first"
    assert _leftovers(out) == []  # no .partial, no .lock, nothing moved aside


def test_second_build_waits_when_asked(tmp_path):
    out = tmp_path / "toy"
    first, ready = _builder(tmp_path, out, "first", hold=1.5)
    _wait_for(ready, first)
    second = _build(tmp_path, out, "second", env={locks.LOCK_WAIT_ENV: "30"})
    assert first.wait(timeout=30) == 0
    assert second.returncode == 0, second.stderr
    assert f"being built by PID {first.pid}; waiting" in second.stderr
    assert _verify(out)["summary"] == {"label": "second"}
    assert _leftovers(out) == []


def test_concurrent_cli_runs_leave_one_intact_output(tmp_path):
    out = tmp_path / "prepared"
    cmd = [sys.executable, "-m", "textcode", "prepare", "--domain", "demo-scientific", "--out", str(out)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT) for _ in range(2)]
    results = [(p.wait(timeout=120), p.communicate()[1]) for p in procs]
    assert any(rc == 0 for rc, _ in results), results
    for rc, err in results:  # whichever lost the race (if they overlapped) says so and exits 2
        assert rc == 0 or (rc == 2 and "is already being built by PID" in err), err
    assert {"items.parquet", "users.parquet"} <= set(_verify(out)["outputs"])
    assert _leftovers(out) == []


def test_replacing_an_output_never_leaves_it_missing(tmp_path):
    out = tmp_path / "toy"
    with artifacts.OutputFolder(out, "toy", {}) as o:
        o.path("v.txt").write_text("0")
    missing, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            if not (out / artifacts.MANIFEST).exists():
                missing.append(time.monotonic())

    reader = threading.Thread(target=watch)
    reader.start()
    try:
        for i in range(1, 40):
            with artifacts.OutputFolder(out, "toy", {"i": i}) as o:
                o.path("v.txt").write_text(str(i))
    finally:
        stop.set()
        reader.join()
    assert missing == []
    assert (out / "v.txt").read_text() == "39" and _verify(out)["config"] == {"i": 39}
    assert _leftovers(out) == []


KILL_AFTER_EXCHANGE = """
_exchange = locks._exchange
def _killed(a, b):
    _exchange(a, b)
    os._exit(9)
locks._exchange = _killed
"""

KILL_BETWEEN_RENAMES = """
locks._exchange = lambda a, b: False  # a file system without an atomic exchange
_rename = os.rename
def _killed(a, b):
    _rename(a, b)
    if b.name.startswith("toy.old-"):  # the old output moved aside, the new one not yet in place
        os._exit(9)
os.rename = _killed
"""


def test_killed_while_replacing_leaves_a_complete_output(tmp_path):
    out = tmp_path / "toy"
    assert _build(tmp_path, out, "old").returncode == 0
    # killed right after the atomic exchange: the new output is in place, complete
    killed = _build(tmp_path, out, "new", patch=KILL_AFTER_EXCHANGE)
    assert killed.returncode == 9
    assert _verify(out)["summary"] == {"label": "new"}
    assert _build(tmp_path, out, "again").returncode == 0  # a rerun recognises it and replaces it
    assert _verify(out)["summary"] == {"label": "again"} and _leftovers(out) == []

    # without the exchange: killed between moving the old aside and moving the new into place
    killed = _build(tmp_path, out, "new2", patch=KILL_BETWEEN_RENAMES)
    assert killed.returncode == 9
    assert not out.exists() and any(n.startswith("toy.old-") for n in _leftovers(out))
    with artifacts.OutputFolder(out, "toy", {}):  # the next build puts the finished output in place first
        assert _verify(out)["summary"] == {"label": "new2"}
        assert not any(n.startswith("toy.old-") for n in _leftovers(out))
    assert _verify(out)["config"] == {}


def test_recover_puts_back_the_old_output_when_the_new_one_was_unfinished(tmp_path):
    out = tmp_path / "toy"
    with artifacts.OutputFolder(out, "toy", {"v": "old"}) as o:
        o.path("v.txt").write_text("old")
    os.rename(out, tmp_path / "toy.old-12345")
    (tmp_path / "toy.partial").mkdir()
    (tmp_path / "toy.partial" / ".config.json").write_text("{}")  # an unfinished build's stamp
    artifacts._recover(out, tmp_path / "toy.partial")
    assert _verify(out)["config"] == {"v": "old"} and not (tmp_path / "toy.old-12345").exists()


def test_a_failed_build_leaves_no_manifest_and_releases_the_lock(tmp_path):
    out = tmp_path / "toy"
    failed = _build(tmp_path, out, "broken", mode="fail")
    assert failed.returncode != 0 and "the stage failed" in failed.stderr
    assert not out.exists()  # no manifest: make reruns the stage
    assert (tmp_path / "toy.partial" / "label.txt").exists()  # left for inspection / resume
    assert not (tmp_path / "toy.lock").exists()
    # over a finished output: that output stays as it was
    assert _build(tmp_path, out, "good").returncode == 0
    before = (out / artifacts.MANIFEST).read_bytes()
    assert _build(tmp_path, out, "broken2", mode="fail").returncode != 0
    assert (out / artifacts.MANIFEST).read_bytes() == before and _verify(out)["summary"] == {"label": "good"}


def test_the_lock_is_released_after_an_exception(tmp_path):
    out = tmp_path / "toy"
    with pytest.raises(RuntimeError):
        with artifacts.OutputFolder(out, "toy", {}) as o:
            o.path("x.txt").write_text("x")
            raise RuntimeError("boom")
    assert not (tmp_path / "toy.lock").exists() and not out.exists()
    with locks.OutputLock(out, wait=0):  # free at once
        pass
    # an error inside __enter__ (after the lock was taken) releases it too
    (tmp_path / "toy.partial" / ".config.json").write_text("{not json")
    with pytest.raises(artifacts.ArtifactError, match="invalid JSON"):
        artifacts.OutputFolder(out, "toy", {}, resume=True).__enter__()
    lock = locks.OutputLock(out, wait=0).acquire()
    lock.release()
    # and finish() releases it, for commands that call __enter__ and finish() themselves
    folder = artifacts.OutputFolder(out, "toy", {})
    folder.__enter__()
    assert folder.lock.held
    folder.finish()
    assert not folder.lock.held and not (tmp_path / "toy.lock").exists()


def test_a_killed_builders_partial_is_cleared_by_the_next_run_and_kept_by_a_resuming_one(tmp_path):
    out = tmp_path / "toy"
    dead, ready = _builder(tmp_path, out, "dead", hold=60)
    _wait_for(ready, dead)
    dead.send_signal(signal.SIGKILL)
    dead.wait(timeout=10)
    assert (tmp_path / "toy.partial" / "label.txt").read_text() == "dead"
    assert (tmp_path / "toy.lock").read_text().strip() == str(dead.pid)  # stale: nobody holds it
    (tmp_path / "toy.partial" / "kept").write_text("from the dead run")
    resumed = _build(tmp_path, out, "resumed", mode="resume")
    assert resumed.returncode == 0, resumed.stderr
    assert (out / "kept").read_text() == "from the dead run"  # resume=True keeps the .partial
    dead2, ready2 = _builder(tmp_path, out, "dead2", hold=60)
    _wait_for(ready2, dead2)
    (tmp_path / "toy.partial" / "stale").write_text("from the dead run")
    dead2.send_signal(signal.SIGKILL)
    dead2.wait(timeout=10)
    fresh = _build(tmp_path, out, "fresh")
    assert fresh.returncode == 0, fresh.stderr
    assert not (out / "stale").exists() and _verify(out)["summary"] == {"label": "fresh"}
    assert _leftovers(out) == []


def test_lock_wait_setting(monkeypatch):
    monkeypatch.delenv(locks.LOCK_WAIT_ENV, raising=False)
    assert locks.lock_wait() == 0
    monkeypatch.setenv(locks.LOCK_WAIT_ENV, "inf")
    assert locks.lock_wait() == float("inf")
    monkeypatch.setenv(locks.LOCK_WAIT_ENV, "-1")
    assert locks.lock_wait() == float("inf")
    monkeypatch.setenv(locks.LOCK_WAIT_ENV, "soon")
    with pytest.raises(artifacts.ArtifactError, match=locks.LOCK_WAIT_ENV):
        locks.lock_wait()


def test_makefiles_do_not_delete_targets_on_error():
    """A failed stage leaves no manifest (above), so make needs no .DELETE_ON_ERROR, which would delete
    the manifest a concurrent build of the same target had just written."""
    for path in [ROOT / "Makefile", *sorted((ROOT / "mk").glob("*.mk")), ROOT / "experiments" / "generation.mk"]:
        code = [line.split("#", 1)[0] for line in path.read_text().splitlines()]
        assert not any(".DELETE_ON_ERROR" in line for line in code), path

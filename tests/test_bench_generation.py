"""The generation benchmark's sampling worker runs against the current prior (it once set a removed length head)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_sampling_worker_draws_full_length_windows_and_reports_its_speed():
    out = subprocess.run([sys.executable, str(ROOT / "bench/bench_generation.py"), "--worker", "generate", "--length", "20"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["length"] == 20 and result["sequences"] == 512 and result["sequences_per_s"] > 0

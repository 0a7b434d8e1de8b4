"""scripts/reduce_text.py: PCA of an encode folder, fitted on the training items only."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from textcode.core import artifacts
from textcode.data.domain import from_sequences

SPEC = importlib.util.spec_from_file_location("reduce_text", Path(__file__).resolve().parents[1] / "scripts/reduce_text.py")
reduce_text = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(reduce_text)


def test_pca_keeps_the_largest_axes_of_the_fit_rows_only():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(60, 8)) * np.array([10, 5, 1, 1, .1, .1, .1, .1])
    emb[50:] += 100.0  # rows outside the fit set must not move the mean
    fit = np.arange(50)
    out, kept = reduce_text.pca_reduce(emb, fit, 2)
    assert out.shape == (60, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out[fit].mean(0), 0.0, atol=1e-4)
    assert 0.9 < kept < 1.0
    full, all_kept = reduce_text.pca_reduce(emb, fit, 8)
    assert all_kept == pytest.approx(1.0)
    # a full-width PCA is a rotation: pairwise distances survive
    assert np.linalg.norm(full[0] - full[1]) == pytest.approx(np.linalg.norm(emb[0] - emb[1]), rel=1e-5)
    with pytest.raises(ValueError, match="--dim"):
        reduce_text.pca_reduce(emb, fit, 9)


def test_reduce_text_writes_an_encode_folder(tmp_path):
    seqs = [[0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5], [3, 4, 5, 0]]
    domain = from_sequences("toy", [str(i) for i in range(6)], [f"item {i}" for i in range(6)],
                            ["a", "b", "c", "d"], seqs)
    with artifacts.OutputFolder(tmp_path / "prepared", "prepare", {"stage": "prepare"}) as out:
        domain.save(out)
        out.summary["domain"] = domain.name
    with artifacts.OutputFolder(tmp_path / "text", "encode", {"stage": "encode", "run": ""}) as out:
        artifacts.save_npy(out.path("embeddings.npy"), np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32))
    assert reduce_text.main(["--prepared", str(tmp_path / "prepared"), "--text", str(tmp_path / "text"),
                             "--dim", "2", "--out", str(tmp_path / "out")]) == 0
    manifest = artifacts.read_manifest(tmp_path / "out")
    assert manifest["stage"] == "encode" and manifest["summary"]["dim"] == 2
    assert artifacts.load_npy(tmp_path / "out/embeddings.npy").shape == (6, 2)


def test_generated_tables_in_readme_and_docs_match_the_results_files():
    """Every table between `<!-- table:NAME -->` markers in README.md and docs/ is what results/*.json say."""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(root / "experiments" / "readme_tables.py"), "--check"],
                          capture_output=True, text=True, cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr

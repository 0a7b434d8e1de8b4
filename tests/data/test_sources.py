"""Source configs -> Domain (sources.read_source) and the domain YAMLs of this layer's readers."""
from pathlib import Path

import pytest

from textcode.core.config import Layer, build
from textcode.core.settings import layers_for, resolve
from textcode.data.config import SourceConfig
from textcode.data.domain import ExpectedCounts
from textcode.data.errors import DataError
from textcode.data.sources import read_source

ROOT = Path(__file__).resolve().parents[2]


def write_sessions(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "train_sessions.txt").write_text("1 2 3\n2 3 1\n4 4\n")
    (folder / "test_prefixes.tsv").write_text("session_id\tprefix_item_ids\tlabel_item_id\ttimestamp\n9\t1 2\t3\t0\n")
    return folder


def test_data_root_is_substituted_and_counts_checked(tmp_path):
    write_sessions(tmp_path / "rr")
    cfg = SourceConfig(format="retailrocket_sessions", path="{data_root}/rr", expect=ExpectedCounts(users=4, items=4))
    # session "4 4" is too short for leave-one-out (tests/test_reader_errors.py); allowed here to count it
    got = read_source(cfg, "rr", data_root=str(tmp_path), min_length=2)
    assert got.counts() == {"users": 4, "items": 4, "interactions": 11}
    with pytest.raises(DataError, match="1 user\\(s\\) have fewer than 3 interactions") as err:
        read_source(cfg, "rr", data_root=str(tmp_path))
    assert err.value.key == "user train-3"
    wrong = SourceConfig(format="retailrocket_sessions", path="{data_root}/rr", expect=ExpectedCounts(interactions=10))
    with pytest.raises(DataError, match="interactions: expected 10, got 11") as err:
        read_source(wrong, "rr", data_root=str(tmp_path))
    assert err.value.path == str(tmp_path / "rr")


def test_k_core_runs_after_reading(tmp_path):
    write_sessions(tmp_path / "rr")
    cfg = SourceConfig(format="retailrocket_sessions", path=str(tmp_path / "rr"), k_core=3)
    d = read_source(cfg, "rr")  # session "4 4" and item 4 have two clicks each
    assert d.counts() == {"users": 3, "items": 3, "interactions": 9}
    assert d.user_ids.tolist() == ["train-1", "train-2", "9"] and d.holdout.tolist() == [False, False, True]
    with pytest.raises(DataError, match="users: expected 3, got 0"):
        read_source(SourceConfig(format="retailrocket_sessions", path=str(tmp_path / "rr"), k_core=4,
                                 expect=ExpectedCounts(users=3)), "rr")


def source_of(domain: str, data_root: Path | None = None) -> tuple[SourceConfig, str]:
    layers = layers_for(ROOT / "configs", "prepare", domain)
    if data_root is not None:
        layers.append(Layer("test", {"data_root": str(data_root)}))
    _, sections = resolve(layers, "prepare")
    return build(SourceConfig, sections["source"], prefix="source."), sections["data_root"]


def test_demo_retailrocket_config_reads_the_embedded_sample(monkeypatch):
    monkeypatch.chdir(ROOT)  # its path is relative to the project, as when make runs it
    cfg, data_root = source_of("demo-retailrocket")
    d = read_source(cfg, "demo-retailrocket", data_root)
    assert int(d.holdout.sum()) == 300 and d.item_text is None


@pytest.mark.shared
@pytest.mark.parametrize("domain", ["retailrocket", "ml-100k", "ml-1m-partial"])
def test_shared_domain_configs_read_with_their_expected_counts(shared_data, domain):
    cfg, data_root = source_of(domain, shared_data)
    assert cfg.expect != ExpectedCounts()  # the count check below is real
    read_source(cfg, domain, data_root)  # raises if the counts differ from `expect`

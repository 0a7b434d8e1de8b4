"""Format `table` (textcode/data/readers/table.py): a user's own CSV/TSV/Parquet files, read through
`textcode prepare` from a domain YAML whose relative paths are relative to that YAML's folder."""
from __future__ import annotations

import gzip
import logging
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from textcode.commands import prepare
from textcode.core import artifacts
from textcode.core.config import ConfigError, build
from textcode.core.settings import layers_for, resolve
from textcode.data.config import SourceConfig
from textcode.data.domain import Domain
from textcode.data.errors import DataError
from textcode.data.itemtext import item_text

ITEMS = [  # item_id, title, categories, brand
    ("i1", "Red &amp; Blue Pen", "Office, Pens", "Acme"),
    ("i2", 'The "Best" Notebook...', "Office", ""),
    ("i3", "Stapler", "", "Acme"),
    ("i4", "Glue", "Office", "Bond"),
    ("i5", "", "", ""),  # no text: dropped
    ("i6", "Unused eraser", "Office", "Acme"),  # nobody interacts with it
]
# user, item, timestamp, in file order
INTERACTIONS = [
    ("u1", "i2", 20), ("u2", "i1", 5), ("u1", "i1", 10), ("u1", "i3", 20), ("u2", "i3", 6),
    ("u1", "i4", 15), ("u2", "i4", 7), ("u3", "i1", 1), ("u3", "i2", 2),  # u3: 2 interactions, dropped
    ("u2", "i5", 8),  # item without text: dropped
    ("u2", "i9", 9),  # no row in the items file: dropped with a log line
]
HEADERS = {"items": ["item_id", "title", "categories", "brand"], "interactions": ["user_id", "item_id", "timestamp"]}


def write_file(path: Path, header: list[str], rows: list[tuple]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        pq.write_table(pa.table({h: [r[i] for r in rows] for i, h in enumerate(header)}), path)
        return path
    sep = "\t" if ".tsv" in path.name else ","

    def cell(v):
        v = str(v)
        return f'"{v.replace(chr(34), chr(34) * 2)}"' if sep == "," and any(c in v for c in ',"') else v

    text = "".join(sep.join(cell(v) for v in row) + "\n" for row in [header, *rows])
    path.write_bytes(gzip.compress(text.encode()) if path.suffix == ".gz" else text.encode())
    return path


def write_domain(root: Path, ext: str = "csv", source_extra: str = "", items=ITEMS, interactions=INTERACTIONS,
                 items_header=None, inter_header=None) -> Path:
    """A configs folder (tmp) with base.yaml and domains/mine.yaml pointing at ../../data/<files> (relative)."""
    configs = root / "configs"
    (configs / "domains").mkdir(parents=True, exist_ok=True)
    (configs / "base.yaml").write_text("seed: 0\n")
    write_file(root / "data" / f"items.{ext}", items_header or HEADERS["items"], items)
    write_file(root / "data" / f"interactions.{ext}", inter_header or HEADERS["interactions"], interactions)
    (configs / "domains" / "mine.yaml").write_text(
        "source:\n"
        "  format: table\n"
        f"  interactions: ../../data/interactions.{ext}\n"
        f"  items: ../../data/items.{ext}\n"
        "  columns: {user: user_id, item: item_id, time: timestamp}\n"
        "  text_columns: [title, categories, brand]\n" + source_extra)
    return configs


def run_prepare(configs: Path, out: Path, *sets: str) -> tuple[Domain, dict]:
    argv = ["--domain", "mine", "--configs", str(configs), "--out", str(out)]
    for s in sets:
        argv += ["--set", s]
    assert prepare.main(argv) == 0
    return Domain.load(out), artifacts.read_manifest(out)["summary"]


@pytest.mark.parametrize("ext", ["csv", "tsv", "csv.gz", "tsv.gz", "parquet"])
def test_prepare_reads_a_table_source(tmp_path, monkeypatch, ext, caplog):
    caplog.set_level(logging.INFO, logger="table")
    write_domain(tmp_path / "proj", ext)
    monkeypatch.chdir(tmp_path)  # neither the project nor the configs folder: paths follow the YAML file
    domain, summary = run_prepare(Path("proj/configs"), tmp_path / "out")
    assert domain.user_ids.tolist() == ["u1", "u2"]  # order of first appearance; u3 is too short
    assert domain.item_ids.tolist() == ["i1", "i2", "i3", "i4"]  # items file order; i5 no text, i6 unused
    # time order, ties (u1: i2 and i3 at 20) in file order
    assert [domain.item_ids[i] for i in domain.sequence(0)] == ["i1", "i4", "i2", "i3"]
    assert domain.times[:4].tolist() == [10, 15, 20, 20]
    assert [domain.item_ids[i] for i in domain.sequence(1)] == ["i1", "i3", "i4"]
    assert domain.item_text[0] == item_text("Red &amp; Blue Pen", "Office, Pens", "Acme") == \
        "Red & Blue Pen. Office, Pens. Acme."
    assert domain.item_text[1] == "The Best Notebook. Office."
    assert domain.item_text[2] == "Stapler. Acme."
    assert summary["users"] == 2 and summary["items"] == 4 and summary["interactions"] == 7
    assert summary["dropped"] == {"items_without_text": 1, "interactions_with_items_without_text": 1,
                                  "interactions_with_unknown_items": 1, "users_shorter_than_min_length": 1,
                                  "interactions_of_short_users": 2, "items_without_interactions": 1}
    assert "whose item has no row in" in caplog.text and "fewer than 3 interactions" in caplog.text
    assert not (tmp_path / "out.partial").exists()


def test_paths_are_relative_to_the_yaml_and_absolute_paths_work(tmp_path, monkeypatch):
    configs = write_domain(tmp_path / "proj")
    _, sections = resolve(layers_for(configs, "prepare", "mine"), "prepare")
    assert Path(sections["source"]["interactions"]) == configs / "domains" / "../../data/interactions.csv"
    absolute = tmp_path / "proj" / "data" / "items.csv"
    text = (configs / "domains" / "mine.yaml").read_text().replace("../../data/items.csv", str(absolute))
    (configs / "domains" / "mine.yaml").write_text(text)
    _, sections = resolve(layers_for(configs, "prepare", "mine"), "prepare")
    assert sections["source"]["items"] == str(absolute)
    monkeypatch.chdir(tmp_path / "proj")
    domain, _ = run_prepare(Path("configs"), tmp_path / "out")
    assert domain.n_interactions == 7


def test_existing_domain_paths_stay_relative_to_the_working_directory():
    root = Path(__file__).resolve().parents[2]
    _, sections = resolve(layers_for("configs" if Path("configs").is_dir() else root / "configs", "prepare",
                                     "demo-scientific"), "prepare")
    assert sections["source"]["path"] == "data/demo/scientific"
    assert sections["source"]["interactions"] == ""


def test_k_core_and_min_length(tmp_path, monkeypatch):
    # u4 has 4 interactions, one with i6, the only one on i6: a 2-core drops it, leaving u4 with 3
    extra = [("u4", "i6", 1), ("u4", "i1", 2), ("u4", "i2", 3), ("u4", "i3", 4)]
    configs = write_domain(tmp_path, interactions=INTERACTIONS + extra)
    domain, summary = run_prepare(configs, tmp_path / "o1", "source.k_core=2")
    assert "i6" not in domain.item_ids.tolist() and domain.lengths().min() >= 3
    assert [domain.item_ids[i] for i in domain.sequence(2)] == ["i1", "i2", "i3"]
    domain, summary = run_prepare(configs, tmp_path / "o2", "source.min_length=4")
    assert domain.user_ids.tolist() == ["u1", "u4"]  # u2 has 3 interactions left
    assert summary["dropped"]["users_shorter_than_min_length"] == 2
    # with min_length 4 the 2-core leaves u4 (3 interactions after i6 goes) too short, then u1 alone
    # holds items nobody else has: nothing is left, and the error says which settings did it
    with pytest.raises(DataError, match="no interactions are left .*source.min_length.*source.k_core"):
        run_prepare(configs, tmp_path / "o3", "source.min_length=4", "source.k_core=2")
    domain, _ = run_prepare(configs, tmp_path / "o4", "source.min_length=4", "source.k_core=0")
    assert domain.user_ids.tolist() == ["u1", "u4"]


def test_items_without_text_can_be_an_error(tmp_path):
    configs = write_domain(tmp_path, source_extra="  drop_items_without_text: false\n")
    with pytest.raises(DataError, match="item 'i5' has no text") as err:
        run_prepare(configs, tmp_path / "out")
    assert err.value.path.endswith("items.csv") and err.value.line == 6
    assert not (tmp_path / "out.partial").exists()


# ----------------------------------------------------------------------------- errors

def test_missing_column_names_file_column_and_columns_found(tmp_path):
    configs = write_domain(tmp_path, inter_header=["user", "item_id", "timestamp"])
    with pytest.raises(DataError, match="no column 'user_id'.*columns found: 'user', 'item_id', 'timestamp'") as err:
        run_prepare(configs, tmp_path / "out")
    assert err.value.path.endswith("interactions.csv") and err.value.key == "column user_id"


def test_missing_text_column(tmp_path):
    configs = write_domain(tmp_path, items_header=["item_id", "name", "categories", "brand"])
    with pytest.raises(DataError, match="no column 'title'") as err:
        run_prepare(configs, tmp_path / "out")
    assert err.value.path.endswith("items.csv")
    configs = write_domain(tmp_path / "b")
    with pytest.raises(ConfigError, match="source.text_columns: missing"):
        run_prepare(configs, tmp_path / "out", "source.text_columns=[]")


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_bad_time_names_file_line_and_column(tmp_path, ext):
    rows = [(u, i, str(t)) for u, i, t in INTERACTIONS]  # Parquet: a string column
    rows[3] = ("u1", "i3", "2021-01-01")
    configs = write_domain(tmp_path, ext, interactions=rows)
    with pytest.raises(DataError, match="time '2021-01-01' is not an integer") as err:
        run_prepare(configs, tmp_path / "out")
    if ext == "csv":
        assert err.value.line == 5 and err.value.key == "column timestamp"
    else:
        assert err.value.key == "row 4, column timestamp"
    rows[3] = ("u1", "i3", "1.5")
    configs = write_domain(tmp_path / "b", interactions=rows)
    with pytest.raises(DataError, match="time '1.5' is not an integer"):
        run_prepare(configs, tmp_path / "out")


def test_duplicate_item_names_both_lines(tmp_path):
    configs = write_domain(tmp_path, items=ITEMS + [("i2", "Again", "", "")])
    with pytest.raises(DataError, match="item 'i2' appears twice \\(line 3 and line 8\\)") as err:
        run_prepare(configs, tmp_path / "out")
    assert err.value.line == 8


def test_missing_items_file_and_keys(tmp_path):
    configs = write_domain(tmp_path)
    os.remove(tmp_path / "data" / "items.csv")
    with pytest.raises(DataError, match="file not found") as err:
        run_prepare(configs, tmp_path / "out")
    assert err.value.path.endswith("items.csv")
    with pytest.raises(ConfigError, match="source.items: missing"):
        run_prepare(configs, tmp_path / "out", "source.items=''")
    with pytest.raises(ConfigError, match="source.interactions: missing"):
        run_prepare(configs, tmp_path / "out", "source.interactions=''")
    with pytest.raises(ConfigError, match="source.min_length must be at least 3"):
        run_prepare(configs, tmp_path / "out", "source.min_length=2")


def test_mostly_unknown_items_is_an_error(tmp_path):
    rows = [(f"u{i % 3}", f"x{i}", i) for i in range(10)] + INTERACTIONS[:3]
    configs = write_domain(tmp_path, interactions=rows)
    with pytest.raises(DataError, match="10 of 13 interactions name an item that has no row") as err:
        run_prepare(configs, tmp_path / "out")
    assert err.value.line == 2 and err.value.key == "column item_id"


def test_ragged_row_and_unknown_file_type(tmp_path):
    configs = write_domain(tmp_path)
    path = tmp_path / "data" / "interactions.csv"
    path.write_text(path.read_text() + "u9,i1\n")
    with pytest.raises(DataError, match="expected 3 fields") as err:
        run_prepare(configs, tmp_path / "out")
    assert err.value.line == len(INTERACTIONS) + 2
    (tmp_path / "data" / "items.json").write_text("{}\n")
    with pytest.raises(DataError, match="unknown file type"):
        run_prepare(configs, tmp_path / "out", f"source.items={tmp_path / 'data' / 'items.json'}")


def test_config_keys_are_typed():
    cfg = build(SourceConfig, {"format": "table", "columns": {"user": "u"}, "text_columns": ["a", "b"]})
    assert cfg.columns.user == "u" and cfg.columns.time == "timestamp" and cfg.text_columns == ("a", "b")
    with pytest.raises(ConfigError, match="unknown key 'columns.users'"):
        build(SourceConfig, {"columns": {"users": "u"}})

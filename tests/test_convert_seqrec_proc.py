"""docs/data-formats.md: scripts/convert_seqrec_proc.py (SeqRecBenchmark proc.zip -> table source) and the
ReChorus recipe, each read back through the table reader (`sources.read_source`)."""
from __future__ import annotations

import gzip
import importlib.util
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from textcode.core.config import build
from textcode.data.config import SourceConfig, rebase_table_paths
from textcode.data.errors import DataError
from textcode.data.readers.seqrec import read_seqrec
from textcode.data.sources import read_source
from textcode.data.split import leave_one_out

pd = pytest.importorskip("pandas")

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("convert_seqrec_proc", ROOT / "scripts/convert_seqrec_proc.py")
convert_seqrec_proc = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(convert_seqrec_proc)

# the published layout: one row per user, lists in time order (ties in the publisher's order), ids from 100
USER2ITEM = {"UserID": [100, 101, 102],
             "ItemID": [[102, 100, 101, 103], [100, 103, 104], [101, 102, 104, 100]],
             "Timestamp": [[5, 5, 7, 9], [1, 2, 3], [10, 10, 10, 11]]}
ITEM2TITLE = {"ItemID": [100, 101, 102, 103, 104],
              "Title": ["Red &amp; Blue Pen", "Note\nbook", "Tab\there", 'Stapler, "big"', "Glue"]}
SUMMARY = {"user_size": 3, "item_size": 5, "interactions": 11, "density": 0.733333}


def write_proc(root: Path, layout: str, user2item: dict = USER2ITEM, summary: dict = SUMMARY) -> Path:
    """proc.zip with its files at the top (`flat`) or under `proc/` (`zip`), or the extracted `proc/` folder."""
    folder = root / "amazon2014-toy" / "proc"
    folder.mkdir(parents=True)
    pd.DataFrame(user2item).to_pickle(folder / "user2item.pkl")
    pd.DataFrame(ITEM2TITLE).to_pickle(folder / "item2title.pkl")
    (folder / "summary.json").write_text(json.dumps(summary))
    if layout == "folder":
        return folder
    zpath = root / "amazon2014-toy" / "proc.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for name in ("user2item.pkl", "item2title.pkl", "summary.json"):
            zf.write(folder / name, name if layout == "flat" else f"proc/{name}")
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()
    return zpath


def source_from_yaml(text: str, folder: Path) -> SourceConfig:
    """The `source` section of a domain YAML file in `folder`, as `prepare` resolves it."""
    data = rebase_table_paths(yaml.safe_load(text), folder)
    return build(SourceConfig, data["source"], prefix="source.")


def write_jsonl(folder: Path) -> Path:
    """The same data as JSON lines, the re-encoding format `seqrec` reads."""
    folder.mkdir(parents=True)
    users = [dict(zip(USER2ITEM, row)) for row in zip(*USER2ITEM.values())]
    items = [dict(zip(ITEM2TITLE, row)) for row in zip(*ITEM2TITLE.values())]
    for name, rows in (("user2item", users), ("item2title", items)):
        (folder / f"{name}.jsonl.gz").write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    return folder


@pytest.mark.parametrize("layout", ["flat", "zip", "folder"])
def test_converted_proc_reads_as_the_seqrec_reader_reads_the_same_data(tmp_path, layout, capsys):
    source = write_proc(tmp_path, layout)
    assert convert_seqrec_proc.main([str(source), "--out", str(tmp_path / "table")]) == 0
    out = capsys.readouterr()
    assert "configs/domains/amazon2014-toy.yaml" in out.err
    with gzip.open(tmp_path / "table/interactions.csv.gz", "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert lines[:3] == ["user_id,item_id,timestamp", "100,102,5", "100,100,5"] and len(lines) == 12

    cfg = source_from_yaml(out.out, tmp_path / "configs/domains")  # the printed YAML, absolute paths
    assert cfg.format == "table" and cfg.text_columns == ("title",)
    assert (cfg.expect.users, cfg.expect.items, cfg.expect.interactions) == (3, 5, 11)
    domain = read_source(cfg, "toy")  # checks `expect` too
    assert domain.user_ids.tolist() == ["100", "101", "102"]
    assert domain.item_ids.tolist() == ["100", "101", "102", "103", "104"]
    assert domain.n_interactions == 11
    ids = domain.item_ids
    assert [ids[i] for i in domain.sequence(0)] == ["102", "100", "101", "103"]  # the tie at 5 keeps list order
    assert [ids[i] for i in domain.sequence(2)] == ["101", "102", "104", "100"]
    assert domain.item_text.tolist() == ["Red & Blue Pen.", "Note book.", "Tab here.", "Stapler, big.", "Glue."]

    expected = read_seqrec(write_jsonl(tmp_path / "jsonl"), "toy")
    for key in ("item_ids", "item_text", "user_ids", "offsets", "items", "times"):
        np.testing.assert_array_equal(getattr(domain, key), getattr(expected, key), err_msg=key)


def test_missing_column_names_the_file_and_the_column(tmp_path, capsys):
    bad = {k: v for k, v in USER2ITEM.items() if k != "Timestamp"} | {"Time": USER2ITEM["Timestamp"]}
    source = write_proc(tmp_path, "zip", user2item=bad)
    with pytest.raises(DataError, match=r"no column 'Timestamp'; columns found: 'UserID', 'ItemID', 'Time'") as err:
        convert_seqrec_proc.convert(source, tmp_path / "table")
    assert err.value.path == f"{source}/proc/user2item.pkl" and err.value.key == "column Timestamp"
    assert convert_seqrec_proc.main([str(source), "--out", str(tmp_path / "table")]) == 1
    assert "user2item.pkl [column Timestamp]: no column 'Timestamp'" in capsys.readouterr().err
    assert not (tmp_path / "table/interactions.csv.gz").exists()


def test_counts_that_disagree_with_summary_json_are_an_error(tmp_path):
    source = write_proc(tmp_path, "flat", summary=SUMMARY | {"interactions": 12})
    with pytest.raises(DataError, match="interactions is 12, but user2item.pkl holds 11") as err:
        convert_seqrec_proc.convert(source, tmp_path / "table")
    assert err.value.path.endswith("proc.zip/summary.json")


# ----------------------------------------------------------------------------- ReChorus (docs/data-formats.md)

def doc_blocks(section: str) -> dict[str, str]:
    """The first python and yaml code blocks of a `## ` section of docs/data-formats.md."""
    text = (ROOT / "docs/data-formats.md").read_text(encoding="utf-8")
    body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return {lang: re.search(rf"```{lang}\n(.*?)```", body, re.S).group(1) for lang in ("python", "yaml")}


def test_rechorus_recipe_reads_back_with_the_same_leave_one_out(tmp_path, monkeypatch):
    # ReChorus layout (data/README.md there): tab-separated, time-ordered, dev/test with neg_items; test =
    # each user's last interaction, dev = the one before; user 2 has a tie (time 30) across train and dev
    data = tmp_path / "data/Grocery_and_Gourmet_Food"
    data.mkdir(parents=True)
    (data / "train.csv").write_text("user_id\titem_id\ttime\n1\t1\t10\n2\t2\t11\n1\t3\t20\n2\t1\t30\n3\t4\t31\n"
                                    "3\t2\t32\n")
    (data / "dev.csv").write_text("user_id\titem_id\ttime\tneg_items\n2\t4\t30\t[3, 5]\n1\t2\t40\t[4, 5]\n"
                                  "3\t1\t41\t[3, 5]\n")
    (data / "test.csv").write_text("user_id\titem_id\ttime\tneg_items\n1\t5\t50\t[3, 4]\n2\t3\t51\t[2, 5]\n"
                                   "3\t5\t52\t[3, 4]\n")
    (data / "items.csv").write_text("item_id,title\n1,Tea\n2,Coffee\n3,Cocoa\n4,Honey\n5,Jam\n")
    blocks = doc_blocks("ReChorus")
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks["python"], "docs/data-formats.md", "exec"), {})
    domains = tmp_path / "configs/domains"
    domains.mkdir(parents=True)
    (domains / "grocery.yaml").write_text(blocks["yaml"])
    domain = read_source(source_from_yaml((domains / "grocery.yaml").read_text(), domains), "grocery")

    assert domain.user_ids.tolist() == ["1", "2", "3"] and domain.n_interactions == 12
    split = leave_one_out(domain)
    ids = domain.item_ids
    targets = {s: [ids[t] for t in getattr(split, s).targets] for s in ("valid", "test")}
    assert targets == {"valid": ["2", "4", "1"], "test": ["5", "3", "5"]}  # dev.csv and test.csv, by user
    assert [ids[i] for i in split.train_sequence(1)] == ["2", "1"]  # train.csv rows of user 2, the tie kept
    assert domain.item_text.tolist() == ["Tea.", "Coffee.", "Cocoa.", "Honey.", "Jam."]

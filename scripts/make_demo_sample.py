"""Cut the embedded demo sample in data/demo/ out of ../shared/data (reproducible: fixed seed).

Each sample keeps its source's file format, so the demo exercises the same readers as the
full runs. Run from the project root: `python scripts/make_demo_sample.py`.
"""
from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np

SEED = 0


def unisrec_subset(src: Path, dst: Path, prefix: str, n_users: int, rng: np.random.Generator) -> dict:
    """Subset a UniSRec atomic dataset by users, re-indexing users and items densely."""
    def rows(split):
        lines = (src / f"{prefix}.{split}.inter").read_text(encoding="utf-8").splitlines()
        return lines[0], [line.split("\t") for line in lines[1:]]

    user2index = dict(line.split("\t") for line in (src / f"{prefix}.user2index").read_text().splitlines())
    item2index = dict(line.split("\t") for line in (src / f"{prefix}.item2index").read_text().splitlines())
    index2user = {v: k for k, v in user2index.items()}
    index2item = {v: k for k, v in item2index.items()}
    chosen = sorted(rng.choice(len(user2index), size=n_users, replace=False).tolist())
    keep_users = {str(u) for u in chosen}
    splits = {s: rows(s) for s in ("train", "valid", "test")}
    used_items = sorted({int(i) for _, (header, rs) in splits.items() for u, h, t in rs if u in keep_users
                         for i in h.split() + [t]})
    new_item = {str(old): str(new) for new, old in enumerate(used_items)}
    new_user = {str(old): str(new) for new, old in enumerate(chosen)}
    dst.mkdir(parents=True, exist_ok=True)
    for split, (header, rs) in splits.items():
        out = [header]
        for u, h, t in rs:
            if u in keep_users:
                out.append("\t".join([new_user[u], " ".join(new_item[i] for i in h.split()), new_item[t]]))
        (dst / f"{prefix}.{split}.inter").write_text("\n".join(out) + "\n", encoding="utf-8")
    (dst / f"{prefix}.user2index").write_text("".join(f"{index2user[str(u)]}\t{new_user[str(u)]}\n" for u in chosen))
    (dst / f"{prefix}.item2index").write_text("".join(f"{index2item[str(i)]}\t{new_item[str(i)]}\n" for i in used_items))
    text_lines = (src / f"{prefix}.text").read_text(encoding="utf-8").splitlines()
    keep_asins = {index2item[str(i)] for i in used_items}
    (dst / f"{prefix}.text").write_text(
        "\n".join([text_lines[0]] + [l for l in text_lines[1:] if l.split("\t", 1)[0] in keep_asins]) + "\n", encoding="utf-8")
    n_train = sum(1 for u, _, _ in splits["train"][1] if u in keep_users)
    return {"users": len(chosen), "items": len(used_items), "interactions": n_train + 3 * len(chosen)}


def seqrec_subset(src: Path, dst: Path, n_users: int, rng: np.random.Generator) -> dict:
    """Subset SeqRecBenchmark JSON lines by users; item ids and titles are kept as they are."""
    with gzip.open(src / "user2item.jsonl.gz", "rt", encoding="utf-8") as f:
        users = [json.loads(line) for line in f]
    chosen = sorted(rng.choice(len(users), size=n_users, replace=False).tolist())
    users = [users[i] for i in chosen]
    items = {i for u in users for i in u["ItemID"]}
    dst.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(dst / "user2item.jsonl.gz", "wb", mtime=0) as f:
        f.write("".join(json.dumps(u) + "\n" for u in users).encode())
    with gzip.open(src / "item2title.jsonl.gz", "rt", encoding="utf-8") as f:
        titles = [line for line in f if json.loads(line)["ItemID"] in items]
    with gzip.GzipFile(dst / "item2title.jsonl.gz", "wb", mtime=0) as f:
        f.write("".join(titles).encode())
    return {"users": len(users), "items": len(items), "interactions": sum(len(u["ItemID"]) for u in users)}


def retailrocket_subset(src: Path, dst: Path, n_train: int, n_test: int, rng: np.random.Generator) -> dict:
    """The first `n_train` training sessions, and test sessions whose items all occur in them."""
    train = (src / "train_sessions.txt").read_text().splitlines()[:n_train]
    seen = {i for line in train for i in line.split()}
    lines = (src / "test_prefixes.tsv").read_text().splitlines()
    header, rows = lines[0], [line.split("\t") for line in lines[1:]]
    by_session: dict[str, list] = {}
    for row in rows:
        by_session.setdefault(row[0], []).append(row)
    ok = [s for s, rs in by_session.items() if all(set(r[1].split()) | {r[2]} <= seen for r in rs)]
    pick = set(ok[:n_test])
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "train_sessions.txt").write_text("\n".join(train) + "\n")
    (dst / "test_prefixes.tsv").write_text("\n".join([header] + ["\t".join(r) for r in rows if r[0] in pick]) + "\n")
    return {"train_sessions": len(train), "test_sessions": len(pick)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--shared", default="../shared/data")
    p.add_argument("--out", default="data/demo")
    args = p.parse_args()
    shared, out = Path(args.shared), Path(args.out)
    rng = np.random.default_rng(SEED)
    counts = {
        "scientific": unisrec_subset(shared / "amazon/Scientific", out / "scientific", "Scientific", 600, rng),
        "beauty": seqrec_subset(shared / "seqrec_benchmark/amazon2014-beauty", out / "beauty", 800, rng),
        "game": seqrec_subset(shared / "seqrec_benchmark/amazon2018-game", out / "game", 800, rng),
        "movielens": seqrec_subset(shared / "seqrec_benchmark/movielens-1m", out / "movielens", 150, rng),
        "retailrocket": retailrocket_subset(shared / "retailrocket/CGENet_srgnn_format", out / "retailrocket", 4000, 300, rng),
    }
    (out / "counts.json").write_text(json.dumps(counts, indent=2) + "\n")
    print(json.dumps(counts, indent=2))


if __name__ == "__main__":
    main()

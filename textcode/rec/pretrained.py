"""Which pre-trained model a fine-tune starts from: a pre-training run made here, or one shipped in the project.

`finetune.pretrained` names either a pre-training run (configs/runs/pretrain/<name>.yaml, made by
`make pretrain PRETRAIN_RUN=<name>` into <art>/pretrain/<name>/) or a model shipped under
`pretrained/<name>/` (written by `textcode ship` from such a run), which a fresh clone can fine-tune
from without the pre-training corpus. A shipped folder's manifest is pinned here by its SHA-256, so a
changed or damaged copy is refused rather than silently fine-tuned from.

Torch-free: `textcode plan` reads it to tell make which folder each fine-tune depends on.
"""
from __future__ import annotations

from pathlib import Path

from textcode.core import artifacts
from textcode.core.config import ConfigError

# the project's shipped models, relative to the project root (where make and the commands run)
SHIPPED_DIR = Path("pretrained")
# name -> SHA-256 of its manifest.json (which holds the SHA-256 of every file of the folder)
SHIPPED: dict[str, str] = {
    "vqrec-amazon7-minilm": "74dff8e2ededea0d2200c20803312748a45bac447ed7fd5c2ff22ae575bb6160",
}


def folder(name: str, configs: str | Path, art: str = "$(ART)") -> str:
    """The folder of the pre-trained model `name`: `<art>/pretrain/<name>` for a pre-training run,
    `pretrained/<name>` for a shipped model."""
    is_run = (Path(configs) / "runs" / "pretrain" / f"{name}.yaml").exists()
    is_shipped = name in SHIPPED
    if is_run and is_shipped:
        raise ConfigError(f"finetune.pretrained: {name!r} is both a pre-training run ({configs}/runs/pretrain/{name}.yaml) "
                          f"and a shipped model ({SHIPPED_DIR / name}); rename one")
    if is_run:
        return f"{art}/pretrain/{name}"
    if is_shipped:
        return str(SHIPPED_DIR / name)
    runs = sorted(p.stem for p in (Path(configs) / "runs" / "pretrain").glob("*.yaml"))
    raise ConfigError(f"finetune.pretrained: {name!r} is neither a pre-training run ({', '.join(runs)}) nor a "
                      f"shipped model ({', '.join(SHIPPED) or 'none'})")


def check(path: str | Path, name: str) -> None:
    """Refuse a --pretrained folder that is not the model `name` the fine-tune's config asks for."""
    path = Path(path)
    manifest = artifacts.read_manifest(path)
    stage = manifest.get("stage")
    made_as = manifest.get("config", {}).get("run" if stage == "pretrain" else "name")
    if stage not in ("pretrain", "ship") or made_as != name:
        raise ConfigError(f"finetune.pretrained: the run asks for {name!r}, but --pretrained {path} is "
                          f"{'the ' + stage + ' output ' + repr(made_as) if stage else 'not a model folder'}")
    if stage == "ship":
        pinned = SHIPPED.get(name)
        actual = artifacts.sha256_file(path / artifacts.MANIFEST)
        if pinned is None or actual != pinned:
            raise artifacts.ArtifactError(
                f"{path / artifacts.MANIFEST}: SHA-256 {actual} is not the one pinned for the shipped model {name!r} "
                f"in textcode/rec/pretrained.py ({pinned}); restore the folder from git (git checkout -- {path})")


def corpus(path: str | Path) -> list[str]:
    """The domains the pre-trained model at `path` (a pre-training run's folder or a shipped model) was trained on."""
    manifest = artifacts.read_manifest(Path(path))
    try:
        if manifest.get("stage") == "ship":
            return list(manifest["summary"]["corpus"])
        return list(manifest["config"]["pretrain"]["domains"])
    except KeyError as exc:
        raise artifacts.ArtifactError(f"{Path(path) / artifacts.MANIFEST}: no record of the pre-training corpus "
                                      f"({exc.args[0]!r} missing); a model folder of textcode pretrain or ship has one") from None


def check_held_out(path: str | Path, name: str, domain: str) -> None:
    """Refuse to fine-tune the model `name` (at `path`) on a domain of its own pre-training corpus: a transfer
    result must come from a model that never saw the target's sequences."""
    if domain in corpus(path):
        raise ConfigError(f"finetune.pretrained: {name!r} ({path}) was pre-trained on {domain!r} itself, so fine-tuning "
                          f"it there measures no transfer; start from a pre-training run whose pretrain.domains leave "
                          f"{domain!r} out (e.g. configs/runs/pretrain/without_*.yaml, named in the domain's YAML "
                          "as finetune.pretrained) or train from scratch (finetune.init: scratch)")


# the encode settings that decide what a text vector means (batch size, threads or precision do not)
ENCODER_KEYS = ("model", "pooling")


def text_encoder(path: str | Path) -> dict | None:
    """The `encode` settings the pre-trained model at `path` read its text vectors with: a shipped model's
    manifest names them, a pre-training run's text inputs hold them; None when they cannot be read."""
    manifest = artifacts.read_manifest(Path(path))
    if manifest.get("stage") == "ship":
        return manifest.get("summary", {}).get("encoder")
    for key, entry in manifest.get("inputs", {}).items():
        if key.rpartition("/")[2] == "text":
            try:
                return artifacts.read_manifest(entry["path"])["config"]["encode"]
            except (artifacts.ArtifactError, OSError, KeyError):
                return None
    return None


def check_encoder(path: str | Path, text: str | Path) -> None:
    """Refuse a domain's text vectors (the `encode` output folder `text`) made by another encoder than the
    pre-trained model's: a transferred text projection (fused item embeddings) only fits its own encoder's."""
    theirs = text_encoder(path)
    ours = artifacts.read_manifest(Path(text)).get("config", {}).get("encode")
    if theirs is None or ours is None:
        return
    for key in ENCODER_KEYS:
        if theirs.get(key) != ours.get(key):
            raise ConfigError(f"encode.{key}: the domain's text vectors ({text}) were made with {ours.get(key)!r}, the "
                              f"pre-trained model {path} read vectors made with {theirs.get(key)!r}; encode the domain "
                              "as the model's corpus was encoded")

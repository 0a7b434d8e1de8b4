"""What the gradient-trained baselines (autorec, deeprec, cdae, multvae, svae, cddrec) share: seeds and devices,
row batches of the training matrix and the autoencoders' first layer that reads their nonzeros, the bridge to the
project's training loop (textcode.training.loop.fit, with validation NDCG@10, early stopping and, given a work
folder, checkpoints to resume from), scoring bags of items, and checked loading of their weights.

Resuming. `fit(..., work=folder)` hands `folder` to the loop as its checkpoint folder (`<work>/ckpt`, written at
every epoch end and, where a Config sets `checkpoint_every`, every that many steps). A rerun with the same split,
Config, seed and folder resumes from it and ends exactly where an uninterrupted run would (weights, logged
values, the loop's counters): the loop restores the modules' state dicts, the optimizer and torch's generator,
and every other draw comes from numpy generators keyed by [seed, epoch]. So whatever else a training objective
counts (an anneal counter) must be a buffer of the objective, not a Python attribute: a buffer is checkpointed,
an attribute would restart from zero. A finished run's folder resumes straight to its end (its best weights,
its history). Without `work` nothing is written and a killed run starts over."""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from textcode.baselines.ease import bag_pairs, binary_interactions
from textcode.core import artifacts
from textcode.core.config import ConfigError, build

if TYPE_CHECKING:
    from textcode.data.split import EvalSet, LeaveOneOut
    from textcode.training.loop import Result

log = logging.getLogger(__name__)


def resolve_device(device: str) -> str:
    """"auto": the first GPU when there is one, else the CPU."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def derived_seed(seed: int, stream: int) -> int:
    """A seed for one named stream of `seed` (1: parameter initialisation), independent of the stream the training
    loop seeds torch with (`seed` itself) and of the batch orders (numpy generators keyed by [seed, epoch])."""
    return int(np.random.SeedSequence([int(seed) % 2**64, 7919, int(stream)]).generate_state(1, np.uint64)[0]) >> 1


INIT_STREAM = 1


def init_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(derived_seed(seed, INIT_STREAM))


def init_linears(module: nn.Module, seed: int, bias_std: float = 0.0, gain: float = 1.0) -> None:
    """Xavier-uniform weights of every nn.Linear of `module`; biases zero, or truncated normal (+-2 std) with
    `bias_std` (Mult-VAE's). Drawn from a generator derived from `seed`, never from torch's global one."""
    g = init_generator(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight, gain=gain, generator=g)
                if m.bias is not None:
                    if bias_std:
                        nn.init.trunc_normal_(m.bias, std=bias_std, a=-2 * bias_std, b=2 * bias_std, generator=g)
                    else:
                        m.bias.zero_()


def activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ConfigError(f"unknown activation {name!r} (known: {', '.join(ACTIVATIONS)})") from None


ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "identity": lambda x: x, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
    "selu": torch.nn.functional.selu, "elu": torch.nn.functional.elu,
}


def check_positive(cfg: Any, positive: Sequence[str] = (), non_negative: Sequence[str] = ()) -> None:
    """ConfigError naming the first setting out of range (the loop settings are always checked)."""
    for name in ("epochs", "batch_size", "eval_batch_size", *positive):
        if getattr(cfg, name) <= 0:
            raise ConfigError(f"baseline.{name} must be positive, got {getattr(cfg, name)!r}")
    for name in ("lr", "patience", "max_minutes", *non_negative):
        if getattr(cfg, name) < 0:
            raise ConfigError(f"baseline.{name} must be >= 0, got {getattr(cfg, name)!r}")


def binary_matrix(split: "LeaveOneOut"):
    """(U, I) float32 CSR: 1 where a user's training sequence holds the item (repeats count once)."""

    return binary_interactions(split.train_offsets, split.train_items, split.n_items).astype(np.float32)


@dataclasses.dataclass
class Rows:
    """A batch of rows of a binary matrix: the nonzeros as (batch row, column) pairs, each pair once, which a
    first layer reads directly (`sparse_linear`) and a loss makes dense where it needs them; optionally sampled
    columns (CDAE's negatives) in the same form."""

    ids: torch.Tensor  # (B,) long: the rows' indices in the matrix (users, or items for I-AutoRec; 0..B-1 for bags)
    rows: torch.Tensor  # (nnz,) long: batch row of each nonzero
    cols: torch.Tensor  # (nnz,) long
    width: int  # columns of the matrix
    sampled_rows: torch.Tensor | None = None
    sampled_cols: torch.Tensor | None = None

    @classmethod
    def of(cls, matrix, ids: np.ndarray, sampled: tuple[np.ndarray, np.ndarray] | None = None) -> "Rows":
        sub = matrix[ids].tocoo()
        batch = cls(torch.from_numpy(np.asarray(ids, np.int64)), torch.from_numpy(sub.row.astype(np.int64)),
                    torch.from_numpy(sub.col.astype(np.int64)), int(matrix.shape[1]))
        if sampled is not None:
            batch.sampled_rows, batch.sampled_cols = torch.from_numpy(sampled[0]), torch.from_numpy(sampled[1])
        return batch

    def __len__(self) -> int:
        return len(self.ids)

    def to(self, device) -> "Rows":
        move = (lambda t: None if t is None else t.to(device))
        return Rows(self.ids.to(device), self.rows.to(device), self.cols.to(device), self.width,
                    move(self.sampled_rows), move(self.sampled_cols))

    def dense(self) -> torch.Tensor:
        """(B, width) float32, 1 at the nonzeros."""
        x = torch.zeros((len(self), self.width), device=self.rows.device)
        x[self.rows, self.cols] = 1.0
        return x


def row_batches(matrix, batch_size: int, seed: int, epoch: int, negatives: int = 0) -> Iterator[Rows]:
    """The rows of `matrix` (CSR) in batches, shuffled by (seed, epoch). With `negatives`, each row also gets
    `negatives` x (its nonzeros) columns drawn uniformly from all columns by the same generator (a draw that
    hits a nonzero just adds nothing)."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(matrix.shape[0])
    counts = np.diff(matrix.indptr)
    for lo in range(0, len(order), batch_size):
        ids = order[lo:lo + batch_size]
        sampled = None
        if negatives:
            per_row = counts[ids] * negatives
            sampled = (np.repeat(np.arange(len(ids), dtype=np.int64), per_row),
                       rng.integers(0, matrix.shape[1], int(per_row.sum()), dtype=np.int64))
        yield Rows.of(matrix, ids, sampled)


def sparse_linear(layer: nn.Linear, batch: Rows, values: torch.Tensor | None = None) -> torch.Tensor:
    """layer(x) for the batch's (B, width) matrix x holding `values` (nnz,) at its nonzeros (None: 1): the bias
    plus, per row, the sum of the weight columns of its nonzeros scaled by their values. The binary rows are
    ~0.2% dense, so the dense product's B x width x out arithmetic (forward and weight gradient) is mostly zeros.
    Gathering and adding along the weight's column axis measured faster on the CPU than along rows of its
    transpose, embedding_bag or a sparse matrix product."""
    src = layer.weight.index_select(1, batch.cols)  # (out, nnz)
    if values is not None:
        src = src * values
    h = torch.zeros((layer.out_features, len(batch)), device=src.device).index_add_(1, batch.rows, src)
    return h.t() + layer.bias


def bags(histories: Sequence[np.ndarray], n_items: int, device) -> Rows:
    """The binary bags of `histories` as Rows (a repeated item counts once, as in training)."""
    rows, cols = bag_pairs(histories, n_items)
    return Rows(torch.arange(len(histories)), torch.from_numpy(rows), torch.from_numpy(cols), n_items).to(device)


class DenseScorer:
    """A Recommender over a network whose `score(bags)` maps Rows of B binary bags to (B, I) scores."""

    def __init__(self, net: nn.Module, n_items: int):
        self.net, self.n_items = net, int(n_items)

    def score_histories(self, histories: Sequence[np.ndarray]) -> torch.Tensor:
        device = next(self.net.parameters()).device
        with torch.no_grad():
            return self.net.score(bags(histories, self.n_items, device))

    def tensors(self) -> dict[str, np.ndarray]:
        return state_arrays(self.net)


def loop_config(cfg: Any):
    """The TrainConfig of the project's training loop from a baseline Config's loop settings (fp32 forward passes:
    these models are small and selection stays exact)."""
    from textcode.training.config import TrainConfig

    return TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                       weight_decay=getattr(cfg, "weight_decay", 0.0), patience=cfg.patience,
                       max_minutes=cfg.max_minutes, checkpoint_every=getattr(cfg, "checkpoint_every", 0),
                       precision="fp32")


def run_loop(objective: nn.Module, cfg: Any, batches: Callable[[int], Any], scorer: Callable[[], Any],
             valid: "EvalSet", *, seed: int, device: str, desc: str, ckpt_dir: Path | None = None) -> "Result":
    """Train `objective` with the project's loop (textcode.training.loop.fit: Adam at a constant rate), validating
    `scorer()` after every epoch on validation NDCG@10 (in the protocol `valid.selection` names); the objective
    ends at its best epoch.

    `ckpt_dir`: the loop's checkpoint folder (the module doc, "Resuming"): a rerun into it resumes; None: no
    checkpoint, a killed run starts over. `max_minutes` counts the loop's seconds over all the runs it took."""
    from textcode.eval.evaluation import evaluate
    from textcode.runtime.distributed import Dist
    from textcode.training.loop import fit as loop_fit

    def validate() -> dict[str, float]:
        result = evaluate(scorer(), valid, ks=(10,), batch_size=cfg.eval_batch_size)
        return {"ndcg@10": result.means()[valid.selection]["ndcg@10"]}

    return loop_fit(objective.to(device), loop_config(cfg), batches, Dist(device=device), seed=seed,
                    validate=validate, monitor="ndcg@10", ckpt_dir=None if ckpt_dir is None else Path(ckpt_dir),
                    desc=desc)


def checkpoint_counters(work: Path | None) -> dict[str, Any] | None:
    """The loop's counters (epoch, batch, step, wall_s, ...: textcode.training.loop.State) of the checkpoint a fit
    into `work` would resume from; None when there is none (or no `work`). Read-only: the loop itself checks the
    checkpoint when it loads it."""
    if work is None:
        return None
    from textcode.runtime.distributed import Dist
    from textcode.training.checkpoint import Checkpoint

    state = Checkpoint(Path(work), {}, {}, Dist()).folder() / "state.json"
    if not state.exists():
        return None
    try:
        counters = artifacts.read_json(state)["loop"]
    except (artifacts.ArtifactError, KeyError, TypeError):
        return None  # unreadable: the loop's own load says what to delete
    return counters if isinstance(counters, dict) else None


def loop_summary(result: "Result") -> dict[str, Any]:
    """The model manifest's summary fields of a model trained by epochs (the report reads epochs and stopped)."""
    notes = []
    if result.stopped == "max_epochs" and result.best_epoch == result.epochs_run:
        notes.append(f"best validation at the last epoch ({result.best_epoch}): more epochs may help")
    return {"epochs": result.epochs_run, "best_epoch": result.best_epoch,
            "best_valid_ndcg@10": result.best_metric, "stopped": result.stopped, "steps": result.steps,
            "loop_wall_s": round(result.wall_s, 3), "notes": notes}


def state_arrays(module: nn.Module) -> dict[str, np.ndarray]:
    """A module's state dict as CPU numpy arrays (what the model folder keeps)."""
    return {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def load_state(module: nn.Module, tensors: Mapping[str, np.ndarray], kind: str, device: str) -> nn.Module:
    """`module` with the saved state, strictly (a missing, extra or misshapen tensor is an ArtifactError),
    on `device` and in eval mode."""
    try:
        module.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in tensors.items()}, strict=True)
    except RuntimeError as exc:
        raise artifacts.ArtifactError(f"{kind} model: the saved tensors do not fit the model its config "
                                      f"describes ({exc})") from None
    return module.to(device).eval()


def expect_shapes(kind: str, tensors: Mapping[str, np.ndarray], shapes: Mapping[str, tuple[int, ...]]) -> None:
    found = {k: tuple(v.shape) for k, v in tensors.items()}
    if found != {k: tuple(v) for k, v in shapes.items()}:
        raise artifacts.ArtifactError(f"{kind} model: expected tensors {dict(shapes)}, found {found}")


def config_of(cls: type, meta: Mapping[str, Any], kind: str) -> tuple[Any, int]:
    """(the Config a model.json records, its n_items); a model.json that does not fit is an ArtifactError."""
    missing = [k for k in ("n_items", "config") if k not in meta]
    if missing:
        raise artifacts.ArtifactError(f"{kind} model.json: missing key(s) {', '.join(missing)}")
    try:
        cfg = build(cls, meta["config"], prefix="config.")
    except ConfigError as exc:
        raise artifacts.ArtifactError(f"{kind} model.json: {exc}") from None
    return cfg, int(meta["n_items"])


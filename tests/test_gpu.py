"""The one-GPU path: batches built on the CPU reach a CUDA model, the permutation phase and scoring
run there too (skipped where CUDA is absent; run on a lent GPU machine with `pytest -m gpu`)."""
import dataclasses

import numpy as np
import pytest
import torch
from test_finetune import _data, _pretrained

from textcode.data.batching import iterate
from textcode.rec.config import FinetuneConfig
from textcode.rec.finetune import learn_permutation
from textcode.rec.objectives import NextItemCE
from textcode.runtime import distributed as dist
from textcode.training.config import TrainConfig
from textcode.training.loop import fit

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def test_training_permutation_and_scoring_run_on_one_gpu():
    windows = _data()
    model = _pretrained(windows).to("cuda")
    d = dataclasses.replace(dist.Dist(), device="cuda")
    cfg = TrainConfig(epochs=2, batch_size=64, lr=1e-2, patience=0, precision="fp32")
    result = fit(NextItemCE(model), cfg, lambda e: iterate(windows, 64, 0, e), d, seed=0)
    assert result.epochs_run == 2 and np.isfinite(result.history[-1]["loss"])
    learn_permutation(model, windows, FinetuneConfig(permutation_epochs=1), cfg, d, None, seed=0)
    scores = model.eval().score_histories([np.array([1, 2, 3]), np.array([4])])
    assert scores.device.type == "cuda" and scores.shape == (2, model.n_items)

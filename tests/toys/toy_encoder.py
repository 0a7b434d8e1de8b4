"""A toy text encoder, following docs/extending.md "A new text encoder": hashed bag of characters."""
from __future__ import annotations

import numpy as np


class HashEncoder:
    dim = 16
    precision = "fp32"

    def __init__(self, cfg):
        self.cfg = cfg

    def tokenize(self, texts):
        return [[ord(c) for c in t[:self.cfg.max_length]] or [0] for t in texts]

    def embed_ids(self, ids):
        out = np.zeros((len(ids), self.dim), np.float32)
        for row, t in enumerate(ids):
            np.add.at(out[row], np.asarray(t) % self.dim, 1.0)
        return out

    def describe(self):
        return {"model": self.cfg.model, "precision": self.precision}

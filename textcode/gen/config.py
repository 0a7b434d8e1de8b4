"""Settings of the sequence-generation family (RSVQ-AE, its baselines, the code prior, sampling).

Kept free of torch so that resolving a config stays cheap (settings.py imports this module).
Every baseline is a configuration of the same harness: see the `bottleneck`, `skips`,
`n_codebooks` and `adversary` fields, and the presets in mk/generate.mk.
"""
from __future__ import annotations

import dataclasses
from typing import Literal

from textcode.core.config import ConfigError
from textcode.training.config import LoopConfig


@dataclasses.dataclass(frozen=True)
class QuantizerConfig:
    """A stack of K residual codebooks (RQ-VAE): codebook k quantizes what codebooks < k left over."""

    n_codebooks: int = 4  # K, the stack depth
    codebook_size: int = 256  # M codes per codebook
    dim: int = 32  # code vectors live in a low-dimensional projection (better codebook usage)
    update: Literal["ema", "grad"] = "ema"  # EMA k-means updates, or straight-through + codebook loss
    decay: float = 0.99  # EMA decay
    commitment: float = 0.25  # beta of the commitment loss
    dead_threshold: float = 0.5  # a code whose EMA usage falls below this many vectors per step is restarted


@dataclasses.dataclass(frozen=True)
class SeqAEConfig:
    """The item-sequence autoencoder harness (RSVQ-AE and every baseline)."""

    d_model: int = 128  # D: width of every level
    d_item: int = 64  # item embedding width (input and tied output), smaller than D: the output softmax dominates cost
    n_levels: int = 3  # encoder/decoder levels; level l has ceil(L / 2**l) positions
    blocks_per_level: int = 1
    block: Literal["conv", "transformer"] = "conv"
    kernel_size: int = 3  # conv blocks
    n_heads: int = 4  # transformer blocks
    dropout: float = 0.1
    bottleneck: Literal["vq", "gauss", "none"] = "vq"  # top level: residual VQ, Gaussian (VAE) or none (plain AE)
    skips: Literal["quantized", "continuous", "none"] = "quantized"  # what each lower level passes to the decoder
    quantizer: QuantizerConfig = QuantizerConfig()
    d_gauss: int = 32  # VAE latent width per top-level position

    def __post_init__(self) -> None:
        if self.n_levels < 1:
            raise ConfigError(f"generator.model.n_levels must be at least 1, got {self.n_levels}")
        if self.block == "transformer" and self.d_model % self.n_heads:
            raise ConfigError(f"generator.model.d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.bottleneck != "vq" and self.skips == "quantized":
            raise ConfigError("generator.model.skips=quantized needs bottleneck=vq (a VAE or plain AE has no codes)")

    @property
    def can_sample(self) -> bool:
        """Whether the decoder's inputs can all be drawn from a prior (no continuous skip)."""
        return self.bottleneck != "none" and self.skips != "continuous"

    @property
    def quantized_levels(self) -> tuple[int, ...]:
        """Levels whose latent is residual-quantized (level 0 is the finest)."""
        if self.bottleneck != "vq":
            return ()
        top = self.n_levels - 1
        return tuple(range(self.n_levels)) if self.skips == "quantized" else (top,)


@dataclasses.dataclass(frozen=True)
class DiscriminatorConfig:
    """Sequence-level critic on item embeddings: real windows vs the decoder's soft reconstructions."""

    d_model: int = 64
    n_layers: int = 2
    kernel_size: int = 3
    loss: Literal["hinge", "non_saturating"] = "hinge"


@dataclasses.dataclass(frozen=True)
class GenTrainConfig(LoopConfig):
    """`generator.train`: the loop's settings (LoopConfig) with the autoencoder's defaults, and its own."""

    batch_size: int = 128
    lr: float = 3e-3  # peak of the warmup + cosine schedule (textcode/training/schedule.py)
    patience: int = 1  # epochs without a better validation accuracy before stopping
    max_minutes: float = 6.0  # the epoch in progress is cut there (and validated as it is)
    checkpoint_every: int = 200
    epochs: int = 4  # also the length of the learning-rate schedule
    grad_clip: float = 1.0
    sampled_softmax: int = 0  # >0: train on the batch's items plus uniform negatives up to this many (large catalogues)
    adversary: bool = True
    adversary_start: float = 0.2  # fraction of the planned steps (epochs) of plain reconstruction before the critic joins
    adversary_factor: float = 0.1  # scales the adaptive weight (VQGAN's disc_weight)
    disc_lr: float = 1e-3
    kl_weight: float = 0.05  # VAE: final KL weight ...
    kl_warmup: float = 0.3  # ... reached linearly from 0 over this fraction of the planned steps (KL annealing)
    eval_batch_size: int = 256


@dataclasses.dataclass(frozen=True)
class GeneratorSettings:
    model: SeqAEConfig = SeqAEConfig()
    discriminator: DiscriminatorConfig = DiscriminatorConfig()
    train: GenTrainConfig = GenTrainConfig()


@dataclasses.dataclass(frozen=True)
class PriorConfig:
    """Autoregressive Transformer over (length, codes of every level and stack depth)."""

    d_model: int = 128
    n_layers: int = 3
    n_heads: int = 4
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ConfigError(f"prior.model.d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")


@dataclasses.dataclass(frozen=True)
class PriorTrainConfig(LoopConfig):
    """`prior.train`: the loop's settings (LoopConfig) with the prior's defaults, and its own."""

    batch_size: int = 64
    lr: float = 2e-3  # peak of the warmup + cosine schedule
    weight_decay: float = 0.01
    patience: int = 1
    max_minutes: float = 15.0  # the epoch in progress is cut there (and validated as it is)
    checkpoint_every: int = 200
    epochs: int = 2  # with the cosine schedule over them: sized so the budget usually lets both finish
    grad_clip: float = 1.0
    eval_batch_size: int = 128


@dataclasses.dataclass(frozen=True)
class PriorSettings:
    model: PriorConfig = PriorConfig()
    train: PriorTrainConfig = PriorTrainConfig()


@dataclasses.dataclass(frozen=True)
class GenerateConfig:
    n_sequences: int = 0  # 0 = as many as the held-out test windows (so metrics compare equal sample sizes)
    temperature: float = 1.0
    # Code priors: one temperature per quantized level, finest first (level 0: a slot per item); when set it
    # replaces `temperature` (what it buys: docs/results/generation.md, "Sampling temperature per code level")
    level_temperatures: tuple[float, ...] = ()
    top_k: int = 0  # 0 = sample from the full distribution
    decode: Literal["argmax", "sample"] = "argmax"  # how the decoder's per-position softmax becomes an item
    batch_size: int = 256

    def __post_init__(self) -> None:
        for key, values in (("temperature", (self.temperature,)), ("level_temperatures", self.level_temperatures)):
            if any(t <= 0 for t in values):
                raise ConfigError(f"generate.{key} must be > 0, got {getattr(self, key)!r}")

    def prior_temperature(self) -> float | tuple[float, ...]:
        """What a code prior samples at: the per-level temperatures if set, else the one temperature."""
        return self.level_temperatures or self.temperature


@dataclasses.dataclass(frozen=True)
class GenEvalConfig:
    batch_size: int = 256
    n_reference_draws: int = 5  # real-vs-real reference metrics are averaged over this many resamples

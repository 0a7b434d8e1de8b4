"""Models: item-embedding modules, the sequence encoder, baselines, and the RSVQ-AE family."""

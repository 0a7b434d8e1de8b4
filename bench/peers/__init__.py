"""Peers in the same run: RecBole 1.2.1's SASRec, MultiVAE, MultiDAE, CDAE and EASE against ours, trained on one
leave-one-out split and all scored by our evaluator (docs/peers.md). `make results/peers.json`.

The package's modules, named here so that `textcode deps` (which reads imports and module strings) makes the
results depend on all of them: the driver and our side run in the project's .venv, the RecBole worker in
.venv-recbole.
"""
MODULES = ("bench.peers.run", "bench.peers.atomic", "bench.peers.recbole_worker")

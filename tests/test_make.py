"""Make reruns exactly what an edit affects: one real `make prepare`, the rest asked with `RUN=echo`
(configs are really resolved, stages only printed: `make -n` cannot tell, because configs hang off
an always-run resolve stamp).

Runs in a copy of the project's code (so edits made meanwhile in the checkout cannot change the
answers) with a temporary artifact folder (ART=) and a temporary copy of the configs (CONFIGS=),
and with VIRTUAL_ENV set to the running interpreter's environment so make does not reinstall it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = "demo-scientific"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


@pytest.fixture(scope="module")
def make(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("make")
    code = tmp / "project"
    for name in ("Makefile", "pyproject.toml"):
        code.mkdir(exist_ok=True)
        shutil.copy2(ROOT / name, code / name)
    for name in ("mk", "textcode", "experiments", "bench", "data/demo/scientific", "pretrained"):
        shutil.copytree(ROOT / name, code / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "configs", tmp / "configs")
    env_dir = Path(sys.prefix)
    env = {**os.environ, "VIRTUAL_ENV": str(env_dir)}
    # the install stamp is an order-only prerequisite; -o keeps make from reinstalling even without it
    base = ["make", "--no-print-directory", "-o", str(env_dir / ".textcode-installed"), f"ART={tmp / 'art'}",
            f"CONFIGS={tmp / 'configs'}", f"DOMAIN={DOMAIN}"]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*base, *args], cwd=code, env=env, capture_output=True, text=True, timeout=300)

    run.art = tmp / "art" / DOMAIN
    run.domain_yaml = tmp / "configs" / "domains" / f"{DOMAIN}.yaml"
    done = run("prepare")
    assert done.returncode == 0, done.stdout + done.stderr
    return run


def stage_commands(result: subprocess.CompletedProcess) -> list[str]:
    """The stages a real run would start (`make RUN=echo`: echo prints them instead)."""
    assert result.returncode == 0, result.stdout + result.stderr
    return sorted({line.split()[1] for line in result.stdout.splitlines()
                   if line.startswith(("textcode ", "experiments "))})


def would_run(make, target: str, *flags: str) -> list[str]:
    return stage_commands(make("RUN=echo", *flags, target))


def fake_manifest(folder: Path) -> None:
    """Stand in for a finished stage (its manifest is all Make looks at), newer than its inputs."""
    folder.mkdir(parents=True, exist_ok=True)
    time.sleep(0.02)
    (folder / "manifest.json").write_text("{}\n")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path} no longer contains {old!r}"
    path.write_text(text.replace(old, new))


def test_incremental_make(make):
    assert (make.art / "prepared" / "manifest.json").exists()
    assert would_run(make, "prepare") == [], "prepare should be up to date right after it ran"

    fake_manifest(make.art / "text")
    fake_manifest(make.art / "codes")
    assert would_run(make, "codes") == []
    # several stages of one domain in one run: resolving their configs must not mark the siblings changed
    # (a grouped config rule did, and retrained every run but the first)
    assert stage_commands(make("RUN=echo", str(make.art / "text" / "manifest.json"),
                               str(make.art / "codes" / "manifest.json"))) == []
    # pretending the codes stage's code changed reruns codes only, not prepare or encode
    assert would_run(make, "codes", "-W", "textcode/commands/codes.py") == ["codes"]

    # a domain setting of the codes stage: codes reruns, prepare and encode do not
    edit(make.domain_yaml, "opq_iterations: 10", "opq_iterations: 11")
    assert would_run(make, "codes") == ["codes"]

    # a source setting: prepare is out of date (and so is everything downstream)
    edit(make.domain_yaml, "users: 600", "users: 601")
    assert would_run(make, "prepare") == ["prepare"]


def test_editing_an_indirect_import_reruns_exactly_the_stages_that_import_it(make):
    """Code dependencies come from the commands' real imports (`textcode deps`): textcode/eval/metrics.py is
    imported by `evaluate` only through textcode/eval/evaluation.py, and not at all by prepare, encode or codes."""
    project = make.art.parents[1] / "project"
    target = str(make.art / "eval" / "popularity" / "manifest.json")
    make("RUN=echo", "prepare")  # resolve the configs, so the fakes below are newer than them
    for stage in ("prepared", "text", "codes", "models/popularity", "eval/popularity"):
        fake_manifest(make.art / stage)
    assert would_run(make, target) == [] and would_run(make, "codes") == []
    deps = (project / ".deps" / "commands.d").read_text()
    closure = {line.split(" := ")[0]: line.split(" := ")[1].split() for line in deps.splitlines()[1:]}
    assert "textcode/eval/metrics.py" in closure["DEPS.evaluate"]
    assert not {"textcode/eval/metrics.py", "textcode/eval/evaluation.py"} & set(closure["DEPS.codes"])
    metrics = project / "textcode" / "eval" / "metrics.py"
    time.sleep(0.02)
    metrics.write_text(metrics.read_text() + "\n# an edit\n")
    assert "evaluate" in would_run(make, target)
    assert would_run(make, "codes") == []

def test_a_new_run_file_is_a_make_target_with_the_inputs_its_settings_read(make):
    """No make edit for a run: `textcode plan` reads what it needs from the YAML (an ID model reads no codes;
    a pretrained one reads codes and the pre-trained model its config names)."""
    runs = make.domain_yaml.parents[1] / "runs" / "finetune"
    (runs / "my_id.yaml").write_text("finetune: {item_embedding: id, init: scratch, permutation: false}\n")
    (runs / "my_transfer.yaml").write_text("finetune: {init: pretrained, pretrained: no_semisynthetic}\n")
    (runs / "my_default_transfer.yaml").write_text("finetune: {init: pretrained}\n")
    # the run layer comes after the domain's: a run naming its pre-training gets it on every domain; a run
    # that names none starts from the domain's choice (demo-scientific: the shipped model)
    for run, reads, pretrained in (("my_id", [], None), ("my_transfer", ["--codes", "--pretrained"], "pretrain/no_semisynthetic"),
                                   ("my_default_transfer", ["--codes", "--pretrained"], "pretrained/vqrec-amazon7-minilm")):
        done = make("-n", "RUN=echo", "LAUNCH=echo", str(make.art / "models" / run / "manifest.json"))
        assert done.returncode == 0, done.stdout + done.stderr
        line = next(x for x in done.stdout.splitlines() if x.startswith(f"echo textcode finetune --config {make.art}/config/finetune.{run}.json"))
        assert [a for a in line.split() if a in ("--codes", "--text", "--pretrained")] == reads
        if pretrained:
            assert line.split("--pretrained ")[1].split()[0].endswith(pretrained)

def resolved(make, domain: str, length: int, run: str, stage: str) -> dict:
    """Resolve one generation run's configs through make (the real resolver) and read one of them."""
    folder = make.art.parent / domain / "gen" / f"L{length}" / run / "config"
    done = make("RUN=echo", str(folder / ".resolve"))
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((folder / f"{stage}.json").read_text())


def test_generation_runs_get_their_domain_and_length_settings(make):
    # the per-domain settings once sat below the rule expansion that reads them and were dropped:
    # Scientific's augmentation generator then trained on whole sequences, test items included
    sci = resolved(make, "Scientific", 20, "rsvq", "train-generator.rsvq")
    assert sci["windows"]["holdout"] == "train_part"
    assert resolved(make, "Scientific", 20, "rsvq", "generate")["generate"]["n_sequences"] == 8442
    # L=100 code priors get the longer budget, L=20 ones the stage default (6 epochs; the minutes a safety net)
    long_prior = resolved(make, "movielens-1m", 100, "rsvq", "train-prior")["prior"]["train"]
    assert (long_prior["epochs"], long_prior["max_minutes"]) == (14, 70)
    short_prior = resolved(make, "movielens-1m", 20, "rsvq", "train-prior")["prior"]["train"]
    assert (short_prior["epochs"], short_prior["max_minutes"]) == (6, 60)
    assert resolved(make, "movielens-1m", 20, "rsvq", "train-generator.rsvq")["windows"]["holdout"] == "random"
    # the utility test's SASRec-IDs train to convergence (30 epochs with patience 3 cut real-data models early)
    train = resolved(make, "movielens-1m", 20, "utility", "finetune.sasrec_id")["train"]
    assert (train["epochs"], train["patience"], train["max_minutes"]) == (100, 10, 0)


def utility_cell_of_123_windows(make) -> Path:
    """MovieLens-1M L=20's folder, its 1x train-on-real set faked at 123 windows (all the volume rules read)."""
    cell = make.art.parent / "movielens-1m" / "gen" / "L20"
    real_1x = cell / "utility" / "real" / "train"
    real_1x.mkdir(parents=True, exist_ok=True)
    (real_1x / "manifest.json").write_text(json.dumps({"summary": {"users": 123}}))
    return cell


def test_volume_points_are_k_times_the_utility_tests_size(make):
    # k x the 1x window count (the utility test's train-on-real set) is computed by the recipe from its manifest
    cell = utility_cell_of_123_windows(make)
    done = make("RUN=echo", str(cell / "volume" / "x4" / "rsvq" / "config" / ".resolve"))
    assert done.returncode == 0, done.stdout + done.stderr
    generate = json.loads((cell / "volume" / "x4" / "rsvq" / "config" / "generate.json").read_text())["generate"]
    assert (generate["n_sequences"], generate["temperature"]) == (492, 0.8)
    done = make("RUN=echo", str(cell / "volume" / "x2" / "real" / "train" / "manifest.json"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert any(line.startswith("experiments utility-data --kind real-train --n 246 ") for line in done.stdout.splitlines())


def test_volume_8x_report_reads_the_1x_points_and_8x_generated_windows(make):
    cell = utility_cell_of_123_windows(make)
    done = make("RUN=echo", str(cell / "volume" / "x8" / "rsvq" / "config" / ".resolve"))
    assert done.returncode == 0, done.stdout + done.stderr
    generate = json.loads((cell / "volume" / "x8" / "rsvq" / "config" / "generate.json").read_text())["generate"]
    assert generate["n_sequences"] == 984
    done = make("-n", "RUN=echo", "LAUNCH=echo", "results/synthetic_volume_8x.json")
    report = [line for line in done.stdout.splitlines() if "experiments report-volume" in line]
    assert report, done.stdout + done.stderr
    args = report[-1].split()
    points = sorted(a.split("=")[0] for a, flag in zip(args[1:], args) if flag in ("--real", "--rsvq"))
    assert points == ["movielens-1m/L20x1", "movielens-1m/L20x1", "movielens-1m/L20x8"]


def test_level_temperature_points_resolve_per_level_settings_and_share_the_sweep_rules(make):
    cell = make.art.parent / "movielens-1m" / "gen" / "L20"
    for setting, expected in (("0.6-1.0-1.0", (1.0, [0.6, 1.0, 1.0])), ("0.8", (0.8, []))):
        done = make("RUN=echo", str(cell / "sweep" / f"rsvq@{setting}" / "config" / ".resolve"))
        assert done.returncode == 0, done.stdout + done.stderr
        generate = json.loads((cell / "sweep" / f"rsvq@{setting}" / "config" / "generate.json").read_text())["generate"]
        assert (generate["temperature"], generate["level_temperatures"]) == expected
    done = make("-n", "RUN=echo", "LAUNCH=echo", "results/level_temperature.json")
    assert "overriding recipe" not in done.stderr, "a point of both the sweep and this comparison has one set of rules"
    report = [line for line in done.stdout.splitlines() if "experiments report-sweep" in line]
    assert report, done.stdout + done.stderr
    args = report[-1].split()
    points = [a.split("=")[0] for a, flag in zip(args[1:], args) if flag == "--point"]
    assert points == [f"movielens-1m/L20/rsvq@{t}" for t in ("0.8", "0.8-1.0-1.0", "0.7-1.0-1.0", "0.6-1.0-1.0")]
    assert [a for a, flag in zip(args[1:], args) if flag == "--out"] == ["reports/level_temperature"]

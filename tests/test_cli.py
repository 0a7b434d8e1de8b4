"""The `textcode` command line: every command listed with its help line, no torch needed to list them or to
resolve configs, and the project's own errors as one line with exit code 2."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from textcode import cli

ROOT = Path(__file__).resolve().parents[1]


def test_help_lists_every_command_module_with_its_first_docstring_line(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    modules = sorted(p.stem.replace("_", "-") for p in (ROOT / "textcode" / "commands").glob("*.py")
                     if p.stem not in ("__init__", "common"))
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert listed == modules
    assert "  finetune" in out and "Train a sequence recommender" in out


def test_the_settings_schema_and_the_command_line_need_no_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import textcode.core.config, textcode.core.settings, textcode.cli\n"
            "from textcode.core.settings import layers_for, resolve\n"
            "resolve(layers_for('configs', 'finetune.vqrec_pretrained', 'demo-scientific'), 'finetune.vqrec_pretrained')\n"
            "sys.exit(textcode.cli.main(['--help']))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_unknown_command_and_project_errors_exit_2_with_one_line(capsys, tmp_path):
    assert cli.main(["no-such-command"]) == 2
    assert "unknown command 'no-such-command'" in capsys.readouterr().err
    assert cli.main(["prepare", "--domain", "no-such-domain", "--configs", str(ROOT / "configs"),
                     "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no-such-domain.yaml: no such domain config" in err


def test_help_into_a_pipe_closed_early_is_not_an_error():
    """`textcode --help | head -1`: the reader stops early; no traceback, exit 0."""
    proc = subprocess.Popen([sys.executable, "-m", "textcode", "--help"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()
    _, err = proc.communicate()
    assert proc.returncode == 0 and b"Traceback" not in err and b"Exception ignored" not in err, err

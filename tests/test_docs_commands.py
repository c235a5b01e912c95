"""Every `python train.py ...` / `python evaluate.py ...` line in the README and docs composes.

A command a user copies from the docs must not die on a renamed key or a missing config option.
Each documented command is parsed (continuation lines joined, comments dropped), a multirun
sweep `key=a,b` is reduced to its first value, and the config is composed with Hydra's own
config included (launchers, sweepers) and every interpolation resolved. Lines with a
placeholder (`<run>`, `...`) are skipped: they are templates, not commands.
"""

from __future__ import annotations

import re
import shlex

import pytest
from omegaconf import OmegaConf

from tests.conftest import ROOT, compose_cfg

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ENTRY = {"train.py": "train", "evaluate.py": "eval"}


def documented_commands() -> list[tuple[str, str]]:
    """(file name, command) for each entry-point command in a fenced code block."""
    out = []
    for path in DOCS:
        for block in re.findall(r"```[^\n]*\n(.*?)```", path.read_text(), flags=re.S):
            for line in re.sub(r"\\\n\s*", " ", block).splitlines():  # join continuations
                line = re.sub(r"\s+#.*$", "", line.strip())  # trailing comment
                if re.match(r"^(\.venv/bin/)?python (train|evaluate)\.py", line):
                    out.append((path.name, line))
    return out


def first_value(override: str) -> str:
    """`key=a,b,c` (a sweep) -> `key=a`, `key=range(a,b)` -> `key=a`; lists `[a,b]` and quoted
    values are left whole."""
    key, sep, value = override.partition("=")
    sweep = re.fullmatch(r"range\((-?\d+),.*\)", value)
    if sweep:
        return f"{key}={sweep.group(1)}"
    if not sep or value.startswith(("[", "{", "'", '"')):
        return override
    depth, cut = 0, len(value)
    for i, ch in enumerate(value):
        depth += ch in "[{("
        depth -= ch in "]})"
        if ch == "," and depth == 0:
            cut = i
            break
    return f"{key}={value[:cut]}"


COMMANDS = documented_commands()


def test_docs_hold_commands():
    files = {f for f, _ in COMMANDS}
    assert "README.md" in files and len(COMMANDS) > 40, (files, len(COMMANDS))


@pytest.mark.parametrize(("doc", "command"), COMMANDS, ids=[f"{f}:{c[:70]}" for f, c in COMMANDS])
def test_documented_command_composes(doc, command, tmp_path):
    if "<" in command or "..." in command:
        pytest.skip("a template with a placeholder")
    words = shlex.split(command)
    script = words[1].split("/")[-1]
    args = [w for w in words[2:] if w not in ("-m", "--multirun")]
    if any(a.startswith("--") for a in args):
        pytest.skip("a Hydra flag (--cfg, --help), not a run")
    overrides = [first_value(a) for a in args]
    cfg = compose_cfg(ENTRY[script], overrides, tmp_path)
    OmegaConf.to_container(cfg, resolve=True)

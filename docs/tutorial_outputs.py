"""Regenerate the outputs pasted in docs/tutorial.md, so that they cannot go stale.

A command whose output the tutorial shows is marked by a comment on the line before its fenced
block::

    <!-- output: credsim run scenarios/rongcheng.toml -q -o /tmp/cdoc/rongcheng -->
    ```
    $ credsim run scenarios/rongcheng.toml -q -o /tmp/cdoc/rongcheng
    ...whatever it printed...
    ```

``python docs/tutorial_outputs.py`` runs every marked command from the repository's root, in
order (later commands may read what earlier ones wrote), with ``credsim`` and ``python`` meaning
this interpreter's, and rewrites each block as ``$ COMMAND`` followed by what the command wrote
to standard output (progress bars and timing lines go to standard error and are not kept).
The command is a shell command line: ``| head -n 20`` keeps the first lines. ``--check`` rewrites
nothing and exits 1 if any block differs; ``--only TEXT`` runs the markers containing TEXT.
``tests/test_tutorial_outputs.py`` checks the markers without running them.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.md"
MARKER = re.compile(r"^<!-- output: (?P<cmd>.+?) -->$")
FENCE = "```"
PROGRAMS = {"credsim", "python", "ls", "cat", "head"}  # the programs a marked command may run


def markers(text: str) -> list[tuple[int, str, int, int]]:
    """(marker line, command, first line of the block, its closing fence line) for each marker,
    0-based; raises ValueError naming the line of a malformed one."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        if not line.startswith("<!-- output"):
            continue
        m = MARKER.match(line)
        if not m:
            raise ValueError(f"tutorial.md:{i + 1}: a marker is '<!-- output: COMMAND -->'")
        if i + 1 >= len(lines) or lines[i + 1] != FENCE:
            raise ValueError(f"tutorial.md:{i + 1}: the marker must be followed by a ``` line")
        end = next((j for j in range(i + 2, len(lines)) if lines[j].startswith(FENCE)), None)
        if end is None:
            raise ValueError(f"tutorial.md:{i + 1}: the fenced block is never closed")
        out.append((i, m.group("cmd"), i + 1, end))
    return out


def programs(cmd: str) -> list[list[str]]:
    """The words of each part of a command's pipeline (``a | b``)."""
    return [shlex.split(part) for part in cmd.split("|")]


def shell_line(cmd: str) -> str:
    """The command as run: ``credsim`` and ``python`` are this interpreter's."""
    py = shlex.quote(sys.executable)
    parts = []
    for part in cmd.split("|"):
        words = part.strip()
        if words.startswith("credsim "):
            words = f"{py} -m credsim.cli {words[len('credsim '):]}"
        elif words.startswith("python "):
            words = f"{py} {words[len('python '):]}"
        parts.append(words)
    return " | ".join(parts)


def run(cmd: str) -> str:
    env = {**os.environ, "COLUMNS": "100", "TERM": "dumb"}
    p = subprocess.run(shell_line(cmd), shell=True, cwd=ROOT, env=env, text=True,
                       capture_output=True)
    if p.returncode not in (0, 2):  # 2: the errors a tutorial shows on purpose
        raise SystemExit(f"{cmd} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    out = p.stdout if p.stdout.strip() or p.returncode == 0 else p.stderr
    return out.rstrip("\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="Rewrite nothing; exit 1 if stale.")
    ap.add_argument("--only", default=None, help="Run only the markers containing this text.")
    a = ap.parse_args()
    text = TUTORIAL.read_text(encoding="utf-8")
    lines = text.splitlines()
    stale = []
    blocks = []
    for _i, cmd, start, end in markers(text):  # in order: later commands read earlier runs
        if a.only and a.only not in cmd:
            continue
        print(f"running: {cmd}", file=sys.stderr, flush=True)
        out = [x.rstrip() for x in run(cmd).splitlines()]  # rich pads its titles
        blocks.append((start, end, cmd, [f"$ {cmd}", *out]))
    for start, end, cmd, new in reversed(blocks):  # from the end: line numbers stay valid
        if lines[start + 1:end] != new:
            stale.append(cmd)
            lines[start + 1:end] = new
    if a.check:
        for cmd in stale:
            print(f"stale: {cmd}")
        sys.exit(1 if stale else 0)
    TUTORIAL.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(stale)} block(s) rewritten", file=sys.stderr)


if __name__ == "__main__":
    main()

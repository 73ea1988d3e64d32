"""Regenerate the outputs pasted in docs/tutorial.md, so that they cannot go stale.

A command whose output the tutorial shows is marked by a comment on the line before its fenced
block::

    <!-- output: credsim run scenarios/rongcheng.toml -q -o /tmp/cdoc/rongcheng -->
    ```
    $ credsim run scenarios/rongcheng.toml -q -o /tmp/cdoc/rongcheng
    ...whatever it printed...
    ```

``python docs/tutorial_outputs.py`` runs every marked command in order (later commands may read
what earlier ones wrote), with ``credsim`` and ``python`` meaning this interpreter's, and
rewrites each block as ``$ COMMAND`` followed by what the command wrote to standard output
(progress bars, estimates and timing lines go to standard error and are not kept; a command
that fails on purpose, exit 2, shows its standard error). The command is a shell command line
run from the repository's root: ``| head -n 20`` keeps the first lines. Variants:

- ``<!-- output in DIR: COMMAND -->`` runs it in DIR;
- ``<!-- output: CMD1 ;; CMD2 -->`` shows several commands in one block, each as ``$ CMD``
  followed by its output, a blank line after each that printed something;
- ``<!-- output, varies: COMMAND -->`` is regenerated but not compared by ``--check`` (times);
- ``<!-- file: PATH -->`` before a fenced block (a TOML file, a script, a CSV history) writes
  the block's text to PATH before the commands after it run: the files the tutorial shows are
  the files its commands read;
- ``<!-- transcript: WHY -->`` before a block that shows a session no script can replay (a
  Ctrl-C typed part way); the one kind of ``$`` block left as written.

``--check`` rewrites nothing and exits 1 if any block differs; ``--only TEXT`` runs the markers
containing TEXT (and every file marker); ``--chapter N`` (repeatable) runs the markers of chapter
N (``## N. ...``) and every file marker: a chapter whose commands read an earlier chapter's run
needs that chapter too (``--chapter 12 --chapter 13``). ``tests/test_newcomer.py`` checks that every ``$``
block is marked, and runs the cheap markers (no simulation) with ``--check``'s comparison.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.md"
MARKER = re.compile(r"^<!-- (?P<what>output|file|transcript)(?: in (?P<dir>\S+?))?"
                    r"(?P<varies>, varies)?: (?P<cmd>.+?) -->$")
FENCE = "```"
SEPARATOR = " ;; "
# the programs a marked command may run
PROGRAMS = {"credsim", "python", "ls", "cat", "head", "mkdir", "sed", "diff"}


@dataclass(frozen=True)
class Marker:
    line: int  # the marker's line, 0-based
    what: str  # output, file or transcript
    cmd: str  # the command(s); a file's path; a transcript's reason
    start: int  # the block's opening fence
    end: int  # its closing fence
    cwd: str | None = None
    varies: bool = False

    @property
    def commands(self) -> list[str]:
        return self.cmd.split(SEPARATOR)


def markers(text: str) -> list[Marker]:
    """Every marker, in order; raises ValueError naming the line of a malformed one."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        if not line.startswith(("<!-- output", "<!-- file", "<!-- transcript")):
            continue
        m = MARKER.match(line)
        if not m:
            raise ValueError(f"tutorial.md:{i + 1}: a marker is '<!-- output: COMMAND -->' "
                             "(or 'output in DIR:', 'output, varies:', 'file:', 'transcript:')")
        if i + 1 >= len(lines) or not lines[i + 1].startswith(FENCE):
            raise ValueError(f"tutorial.md:{i + 1}: the marker must be followed by a ``` line")
        if m.group("what") == "output" and lines[i + 1] != FENCE:
            raise ValueError(f"tutorial.md:{i + 1}: an output block opens with a bare ``` line")
        end = next((j for j in range(i + 2, len(lines)) if lines[j].startswith(FENCE)), None)
        if end is None:
            raise ValueError(f"tutorial.md:{i + 1}: the fenced block is never closed")
        out.append(Marker(i, m.group("what"), m.group("cmd"), i + 1, end, m.group("dir"),
                          bool(m.group("varies"))))
    return out


def unmarked(text: str) -> list[int]:
    """The 1-based lines of fenced blocks that show a command (``$ ...``) with no marker."""
    lines = text.splitlines()
    marked = {m.start for m in markers(text)}
    bad, i = [], 0
    while i < len(lines):
        if lines[i].startswith(FENCE):
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith(FENCE)), len(lines))
            if any(x.startswith("$ ") for x in lines[i + 1:end]) and i not in marked:
                bad.append(i + 1)
            i = end + 1
        else:
            i += 1
    return bad


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


def run(cmd: str, cwd: str | None = None) -> str:
    """What ``cmd`` printed (its standard error when it failed on purpose, exit 2)."""
    env = {**os.environ, "COLUMNS": "100", "TERM": "dumb"}
    where = Path(cwd) if cwd else ROOT
    where.mkdir(parents=True, exist_ok=True)
    p = subprocess.run(shell_line(cmd), shell=True, cwd=where, env=env, text=True,
                       capture_output=True)
    ok = {0, 2} | ({1} if cmd.startswith("diff ") else set())  # diff: 1 when the files differ
    if p.returncode not in ok:  # 2: the errors a tutorial shows on purpose
        raise SystemExit(f"{cmd} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    out = p.stdout if p.stdout.strip() or p.returncode != 2 else p.stderr
    return out.rstrip("\n")


def block(m: Marker) -> list[str]:
    """The lines of an output block, regenerated."""
    new: list[str] = []
    for k, cmd in enumerate(m.commands):
        out = [x.rstrip() for x in run(cmd, m.cwd).splitlines()]  # rich pads its titles
        new += [f"$ {cmd}", *out]
        if out and k < len(m.commands) - 1:
            new.append("")
    return new


def write_file(m: Marker, lines: list[str]) -> None:
    path = Path(m.cmd)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines[m.start + 1:m.end]) + "\n", encoding="utf-8")


WORK = "/tmp/cdoc"  # the folder every command of the tutorial writes in


def moved(m: Marker, work: str) -> Marker:
    """The marker with its paths under ``work`` instead of ``WORK`` (a test's own folder)."""
    return replace(m, cmd=m.cmd.replace(WORK, work), cwd=m.cwd and m.cwd.replace(WORK, work))


def regenerate(text: str, want: Callable[[Marker], bool] = lambda m: True,
               log: Callable[[str], None] = lambda s: None,
               work: str = WORK) -> tuple[str, list[str]]:
    """(the tutorial with the wanted output blocks regenerated, the commands whose block changed,
    leaving out the varying ones). Every file marker is written, in order. ``work`` runs it all
    in another folder than /tmp/cdoc (the blocks still say /tmp/cdoc)."""
    lines = text.splitlines()
    stale, blocks = [], []
    for m in markers(text):  # in order: later commands read earlier runs and files
        if m.what == "file":
            write_file(moved(m, work), lines)
        elif m.what == "output" and want(m):
            log(f"running: {m.cmd}")
            new = block(moved(m, work))
            if work != WORK:
                new = [x.replace(work, WORK) for x in new]
            blocks.append((m, new))
    for m, new in reversed(blocks):  # from the end: line numbers stay valid
        if lines[m.start + 1:m.end] != new:
            if not m.varies:
                stale.append(m.cmd)
            lines[m.start + 1:m.end] = new
    return "\n".join(lines) + "\n", stale


def chapters(text: str) -> dict[int, tuple[int, int]]:
    """The 0-based line span [first, next heading) of each numbered chapter (``## N. Title``)."""
    lines = text.splitlines()
    heads = [(i, x) for i, x in enumerate(lines) if x.startswith("## ")]
    spans = {}
    for k, (i, x) in enumerate(heads):
        num = re.match(r"## (\d+)\.", x)
        if num:
            spans[int(num.group(1))] = (i, heads[k + 1][0] if k + 1 < len(heads) else len(lines))
    return spans


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="Rewrite nothing; exit 1 if stale.")
    ap.add_argument("--only", default=None, help="Run only the markers containing this text.")
    ap.add_argument("--chapter", type=int, action="append", default=[],
                    help="Run only the markers of chapter N (repeatable).")
    a = ap.parse_args()
    text = TUTORIAL.read_text(encoding="utf-8")
    missing = unmarked(text)
    if missing:
        sys.exit(f"tutorial.md: lines {missing}: a block showing a command has no marker")
    spans = chapters(text)
    unknown = [n for n in a.chapter if n not in spans]
    if unknown:
        sys.exit(f"tutorial.md: no chapter {unknown} (chapters: {sorted(spans)})")

    def want(m: Marker) -> bool:
        in_chapter = not a.chapter or any(spans[n][0] < m.line < spans[n][1] for n in a.chapter)
        return in_chapter and (not a.only or a.only in m.cmd)

    new, stale = regenerate(text, want, lambda s: print(s, file=sys.stderr, flush=True))
    if a.check:
        for cmd in stale:
            print(f"stale: {cmd}")
        sys.exit(1 if stale else 0)
    TUTORIAL.write_text(new, encoding="utf-8")
    print(f"{len(stale)} block(s) rewritten", file=sys.stderr)


if __name__ == "__main__":
    main()

"""The snippets of the README and of the documentation pages: found, run as a
reader would run them, outputs compared.

The rules (docs/contributing.md says the same):

- Every page is run on its own: every ```python block of it runs, in order,
  in one namespace, in a fresh Python process that sees one CPU device, as a
  reader's laptop does. The pages in `SEVERAL_DEVICES` run a second time with
  that many simulated devices, and must print the same. A block whose last
  non-blank line before the fence is ``<!-- template -->`` is a template (it
  needs several hosts or your own loader) and is not run.
- A ```text block right after a ```python block (only blank lines between)
  holds exactly what that block prints.
- In a ```console block, each ``$ jaxgd ...`` line followed by output lines is
  run in an empty folder, and its output (stdout, then stderr) must read as
  shown; a line ``...`` stands for any number of lines.
- Numbers compare as text, except two numbers both below 1e-12 in size:
  rounding at the optimum, whose digits differ between machines.

Run ``python tests/readme.py --write`` to refill every ```text block after a
```python block with what the code prints now, in the README and every page
(or ``python tests/readme.py --write docs/cli.md`` for some of them).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
TEMPLATE = "<!-- template -->"
# Pages whose snippets also run, and print the same, on this many devices.
SEVERAL_DEVICES = {"scaling.md": 8}
# A number as printed: an integer, a decimal or a float in e-notation.
_NUMBER = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")
_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[ \t]*\n"
    r"(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.M | re.S,
)
# Below this size two printed numbers are rounding at an optimum.
_NOISE = 1e-12


class Block(NamedTuple):
    """A fenced block: its language, its text (dedented), where it lies."""

    lang: str
    text: str
    line: int  # the line of the page on which the block's text starts
    start: int  # offsets of the block's text in the page
    end: int
    template: bool
    output: Block | None  # the ```text block right after a ```python block


def blocks(text: str) -> list[Block]:
    """Every fenced block of `text`, in order, python blocks with their output."""
    found = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip().rsplit("\n", 1)[-1].strip()
        found.append(
            Block(
                lang=match["lang"],
                text=textwrap.dedent(match["body"]),
                line=text.count("\n", 0, match.start("body")) + 1,
                start=match.start("body"),
                end=match.end("body"),
                template=before == TEMPLATE,
                output=None,
            )
        )
    result = []
    for k, block in enumerate(found):
        after = found[k + 1] if k + 1 < len(found) else None
        if (
            block.lang == "python"
            and after is not None
            and after.lang == "text"
            and _only_fences_between(text, block, after)
        ):
            block = block._replace(output=after)
        result.append(block)
    return result


def _only_fences_between(text: str, block: Block, after: Block) -> bool:
    """Only the closing fence, blank lines and the opening fence between."""
    gap = text[block.end : after.start]
    return (
        re.fullmatch(r"[ \t]*```[ \t]*\n(\s*\n)?[ \t]*```text[ \t]*\n", gap) is not None
    )


def snippets(text: str) -> list[Block]:
    """The python blocks that run, in order."""
    return [b for b in blocks(text) if b.lang == "python" and not b.template]


def run_snippets(text: str, filename: str = str(README)) -> list[str]:
    """Runs every snippet in one namespace; returns what each one printed."""
    namespace: dict = {"__name__": "__main__"}
    printed = []
    for block in snippets(text):
        # Blank lines in front, so that a traceback names the page's line.
        code = "\n" * (block.line - 1) + block.text
        stream = io.StringIO()
        with contextlib.redirect_stdout(stream):
            exec(compile(code, filename, "exec"), namespace)
        printed.append(stream.getvalue())
    return printed


def pages() -> list[Path]:
    """The README and every page of the documentation with text of its own.

    `docs/index.md` only includes the README.
    """
    return [README, *sorted(p for p in DOCS.glob("*.md") if p.name != "index.md")]


def device_counts(path: Path) -> tuple[int, ...]:
    """The device counts that the snippets of the page at `path` run with."""
    several = SEVERAL_DEVICES.get(Path(path).name)
    return (1,) if several is None else (1, several)


def run_in_fresh_process(path: Path = README, devices: int = 1) -> list[str]:
    """`run_snippets` of the file at `path` in a new Python with `devices` CPUs."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={devices}"
    )
    env["JAX_PLATFORMS"] = "cpu"
    with tempfile.TemporaryDirectory() as folder:  # for the files snippets write
        done = subprocess.run(
            [sys.executable, __file__, "--json", str(Path(path).resolve())],
            capture_output=True,
            text=True,
            env=env,
            cwd=folder,
            check=False,
        )
    if done.returncode != 0:
        raise AssertionError(f"a snippet of {path} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def same(shown: str, printed: str) -> bool:
    """`shown` reads as `printed`: the same text and numbers (see the module)."""
    a, b = _NUMBER.split(shown), _NUMBER.split(printed)
    if len(a) != len(b):
        return False
    for k, (x, y) in enumerate(zip(a, b, strict=True)):
        if x == y:
            continue
        if k % 2 == 0:  # text between numbers
            return False
        if not (abs(float(x)) < _NOISE and abs(float(y)) < _NOISE):
            return False
    return True


def matches(shown: list[str], printed: list[str]) -> bool:
    """The lines `shown` read as `printed`, a line ``...`` standing for any lines."""
    memo: dict[tuple[int, int], bool] = {}

    def match(i: int, j: int) -> bool:
        if (i, j) not in memo:
            if i == len(shown):
                memo[i, j] = j == len(printed)
            elif shown[i].strip() == "...":
                memo[i, j] = any(match(i + 1, k) for k in range(j, len(printed) + 1))
            else:
                memo[i, j] = (
                    j < len(printed)
                    and same(shown[i], printed[j])
                    and match(i + 1, j + 1)
                )
        return memo[i, j]

    return match(0, 0)


class Command(NamedTuple):
    """A `$ jaxgd ...` line of a console block and the output shown after it."""

    argv: list[str]
    shown: list[str]
    line: int


def commands(text: str) -> list[Command]:
    """The `$ jaxgd` commands of every console block that show their output."""
    import shlex

    found = []
    for block in blocks(text):
        if block.lang != "console":
            continue
        lines = block.text.rstrip("\n").split("\n")
        starts = [k for k, line in enumerate(lines) if line.startswith("$ ")]
        for k, start in enumerate(starts):
            stop = starts[k + 1] if k + 1 < len(starts) else len(lines)
            argv = shlex.split(lines[start][2:], comments=True)
            if argv[0] == "jaxgd" and stop > start + 1:
                found.append(Command(argv, lines[start + 1 : stop], block.line + start))
    return found


def write(path: Path = README) -> int:
    """Refills the output block of every snippet that has one; returns the count."""
    text = path.read_text(encoding="utf-8")
    printed = run_in_fresh_process(path)
    changes = []
    for block, out in zip(snippets(text), printed, strict=True):
        if block.output is not None and block.output.text != out:
            changes.append((block.output, out))
    for output, out in sorted(changes, key=lambda change: -change[0].start):
        fence = text[: output.start].rstrip("\n").rsplit("\n", 1)[-1]
        indent = fence[: len(fence) - len(fence.lstrip())]
        body = "".join(
            indent + line if line.strip() else line for line in out.splitlines(True)
        )
        text = text[: output.start] + body + text[output.end :]
    path.write_text(text, encoding="utf-8")
    return len(changes)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--json"]:
        file = Path(sys.argv[2])
        print(json.dumps(run_snippets(file.read_text(encoding="utf-8"), str(file))))
    elif sys.argv[1:2] == ["--write"]:
        for page in [Path(name).resolve() for name in sys.argv[2:]] or pages():
            print(f"{write(page)} output block(s) rewritten in {page}")
    else:
        sys.exit("usage: python tests/readme.py --write [PAGE.md ...]")

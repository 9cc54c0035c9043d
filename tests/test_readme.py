"""The README is a test: every snippet runs as pasted and prints what it shows.

The rules a snippet follows are in `readme.py` beside this file, and in the
README's "Tests and documentation" section.
"""

import re
from pathlib import Path

import pytest
from helpers import DEMO_FIGURES
from readme import README, blocks, commands, matches, run_in_fresh_process, snippets

from jaxgd.cli import main

TEXT = README.read_text(encoding="utf-8")
# Commands checked by a test of their own, which also checks what they write.
ELSEWHERE = {
    "demo": "test_demo.py::"
    "test_demo_as_the_readme_runs_it_writes_every_figure_and_prints_its_table"
}


@pytest.mark.slow
def test_every_snippet_runs_in_order_and_prints_what_the_readme_shows():
    printed = run_in_fresh_process(README)
    shown = snippets(TEXT)
    assert len(printed) == len(shown)
    for block, out in zip(shown, printed, strict=True):
        if block.output is not None:
            assert matches(block.output.text.splitlines(), out.splitlines()), (
                f"README.md line {block.output.line} shows\n{block.output.text}\n"
                f"but the snippet of line {block.line} prints\n{out}"
                "(python tests/readme.py --write refills the output blocks)"
            )


def test_every_snippet_but_the_templates_runs_and_says_what_it_prints():
    python = [block for block in blocks(TEXT) if block.lang == "python"]
    templates = [block for block in python if block.template]
    # One template: the several-hosts script, which needs your loader and
    # several processes; the README says so in the text before it.
    assert len(templates) == 1
    assert "load_rows" in templates[0].text
    assert "template" in TEXT[: TEXT.index(templates[0].text)].rsplit("###", 1)[1]
    for block in python:
        if not block.template and "print(" in block.text:
            assert block.output is not None, f"README.md line {block.line}"


def test_quickstart_is_short():
    quickstart = TEXT.split("## Quickstart", 1)[1]
    first = next(block for block in blocks(quickstart) if block.lang == "python")
    assert len(first.text.strip().splitlines()) <= 10


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        pytest.param(command, id=" ".join(command.argv))
        for command in commands(TEXT)
        if command.argv[1] not in ELSEWHERE
    ],
)
def test_the_command_line_prints_what_the_readme_shows(
    command, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    main([*command.argv[1:], "--no-cache"])
    out, err = capsys.readouterr()
    printed = (out + err).splitlines()
    assert matches(command.shown, printed), (
        f"README.md line {command.line}: `{' '.join(command.argv)}` shows\n"
        + "\n".join(command.shown)
        + "\nbut prints\n"
        + "\n".join(printed)
    )


def test_the_commands_checked_elsewhere_are_checked_there():
    here = Path(__file__).parent
    for command in commands(TEXT):
        if command.argv[1] in ELSEWHERE:
            file, test = ELSEWHERE[command.argv[1]].split("::")
            assert f"def {test}(" in (here / file).read_text(encoding="utf-8")


def test_the_readme_shows_every_figure_of_the_demo():
    shown = re.findall(r"!\[[^\]]+\]\((docs/figures/[^)]+)\)", TEXT)
    assert shown == [f"docs/figures/{name}.png" for name in DEMO_FIGURES]
    for path in shown:
        png = (README.parent / path).read_bytes()
        assert png.startswith(b"\x89PNG")
        assert int.from_bytes(png[16:20], "big") >= 960, path


def test_setup_commands_are_the_ones_ci_runs():
    setup = TEXT.split("## Set up", 1)[1]
    demo, tests = [block.text for block in blocks(setup) if block.lang == "bash"][:2]
    assert "jaxgd demo" in demo
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    install, run = tests.strip().split("&& ")[1:]
    extras = re.search(r'"(\.\[[\w,]+\])"', install).group(1)
    assert f'-e "{extras}"' in ci and run.strip() in ci

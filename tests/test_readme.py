"""The README and the documentation pages are tests: every snippet runs as
pasted and prints what the page shows.

The rules a snippet follows are in `readme.py` beside this file, and in
docs/contributing.md.
"""

import inspect
import re
from pathlib import Path

import pytest
from helpers import DEMO_FIGURES
from readme import (
    DOCS,
    README,
    ROOT,
    blocks,
    commands,
    device_counts,
    matches,
    pages,
    run_in_fresh_process,
    snippets,
)

import jaxgd
from jaxgd.cli import main

TEXT = README.read_text(encoding="utf-8")
PAGES = {page: page.read_text(encoding="utf-8") for page in pages()}
# Commands checked by a test of their own, which also checks what they write.
ELSEWHERE = {
    "demo": "test_demo.py::"
    "test_demo_as_the_readme_runs_it_writes_every_figure_and_prints_its_table"
}


def name(page):
    return str(page.relative_to(ROOT))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("page", "devices"),
    [
        pytest.param(page, devices, id=f"{name(page)}-{devices}-device")
        for page in pages()
        for devices in device_counts(page)
    ],
)
def test_every_snippet_runs_in_order_and_prints_what_the_page_shows(page, devices):
    printed = run_in_fresh_process(page, devices)
    shown = snippets(PAGES[page])
    assert len(printed) == len(shown)
    for block, out in zip(shown, printed, strict=True):
        if block.output is not None:
            assert matches(block.output.text.splitlines(), out.splitlines()), (
                f"{name(page)} line {block.output.line} shows\n{block.output.text}\n"
                f"but the snippet of line {block.line} prints on {devices} "
                f"device(s)\n{out}"
                "(python tests/readme.py --write refills the output blocks)"
            )


def test_every_snippet_but_the_templates_runs_and_says_what_it_prints():
    templates = []
    for page, text in PAGES.items():
        for block in blocks(text):
            if block.lang != "python":
                continue
            if block.template:
                templates.append((page, block))
            elif "print(" in block.text:
                assert block.output is not None, f"{name(page)} line {block.line}"
    # One template: the several-hosts script, which needs your loader and
    # several processes; its page says so in the text before it.
    assert len(templates) == 1
    page, template = templates[0]
    assert page == DOCS / "scaling.md"
    assert "load_rows" in template.text
    text = PAGES[page]
    assert "template" in text[: text.index(template.text)].rsplit("\n## ", 1)[1]


def test_quickstart_is_short():
    quickstart = TEXT.split("## Quickstart", 1)[1]
    first = next(block for block in blocks(quickstart) if block.lang == "python")
    assert len(first.text.strip().splitlines()) <= 10


def test_the_readme_is_a_landing_page():
    assert len(TEXT.splitlines()) <= 300
    for page in pages()[1:]:
        assert f"(docs/{page.name})" in TEXT, page.name


def test_the_api_table_lists_every_argument():
    table = TEXT.split("## Public API", 1)[1].split("\n## ", 1)[0]
    rows = {
        re.match(r"\| `jaxgd\.(\w+)", row).group(1): row
        for row in table.splitlines()
        if row.startswith("| `jaxgd.")
    }
    for function in sorted(set(jaxgd.__all__) & set(rows)):
        if not inspect.isfunction(getattr(jaxgd, function)):
            continue
        for argument in inspect.signature(getattr(jaxgd, function)).parameters:
            assert re.search(rf"\b{argument}\b", rows[function]), (function, argument)
    assert {"fit", "make_step", "sweep", "multistart", "best"} <= set(rows)


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        pytest.param(command, id=f"{name(page)}: " + " ".join(command.argv))
        for page, text in PAGES.items()
        for command in commands(text)
        if command.argv[1] not in ELSEWHERE
    ],
)
def test_the_command_line_prints_what_the_page_shows(
    command, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    main([*command.argv[1:], "--no-cache"])
    out, err = capsys.readouterr()
    printed = (out + err).splitlines()
    assert matches(command.shown, printed), (
        f"line {command.line}: `{' '.join(command.argv)}` shows\n"
        + "\n".join(command.shown)
        + "\nbut prints\n"
        + "\n".join(printed)
    )


def test_the_commands_checked_elsewhere_are_checked_there():
    here = Path(__file__).parent
    for text in PAGES.values():
        for command in commands(text):
            if command.argv[1] in ELSEWHERE:
                file, test = ELSEWHERE[command.argv[1]].split("::")
                assert f"def {test}(" in (here / file).read_text(encoding="utf-8")


def test_the_tutorial_shows_every_figure_of_the_demo():
    text = PAGES[DOCS / "tutorial.md"]
    shown = re.findall(r"!\[[^\]]+\]\((figures/[^)]+)\)", text)
    assert shown == [f"figures/{name}.png" for name in DEMO_FIGURES]
    for path in shown:
        png = (DOCS / path).read_bytes()
        assert png.startswith(b"\x89PNG")
        assert int.from_bytes(png[16:20], "big") >= 960, path


def test_setup_commands_are_the_ones_ci_runs():
    setup = TEXT.split("## Set up", 1)[1]
    demo, tests = [block.text for block in blocks(setup) if block.lang == "bash"][:2]
    assert "jaxgd demo" in demo
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    install, run = tests.strip().split("&& ")[1:]
    extras = re.search(r'"(\.\[[\w,]+\])"', install).group(1)
    assert f'-e "{extras}"' in ci and run.strip() in ci

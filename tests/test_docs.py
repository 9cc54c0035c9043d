"""The site builds from the pages and docstrings without a warning, and is whole.

Needs the `docs` extra (``pip install -e ".[docs]"``); without it these tests
are skipped. Building the site takes a few seconds, so they are marked slow.
"""

import html
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import jaxgd

pytest.importorskip("mkdocs", reason='the docs extra is not installed: ".[docs]"')
pytest.importorskip("mkdocstrings", reason='the docs extra is not installed: ".[docs]"')
pytest.importorskip(
    "mkdocs_include_markdown_plugin",
    reason='the docs extra is not installed: ".[docs]"',
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# LaTeX commands that a docstring or page might hold; outside the spans that
# pymdownx.arithmatex writes for MathJax, they were not recognised as math.
_LATEX = re.compile(
    r"\\(?:theta|alpha|eta|lambda|sigma|mu|nabla|partial|lVert|rVert|langle|"
    r"rangle|sum|frac|sqrt|mathrm|mathbb|le|ge|leq|geq|cdot|times|bar|tilde|"
    r"hat|leftarrow|rightarrow|pm|in|dots|ldots|qquad|quad|top)(?![A-Za-z])"
)
# What is left out of the search: the math MathJax renders, and code, where a
# page may quote a role (a raw role leaves its `:math:` outside the code).
_MATH = re.compile(
    r'<(span|div) class="arithmatex">.*?</\1>|<pre[ >].*?</pre>|<code>.*?</code>',
    re.S,
)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", folder],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    return folder


def text_of(page):
    """The words of an HTML page, one space between them."""
    words = html.unescape(re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8")))
    return " ".join(words.split())


def summary(obj):
    """The first line of a docstring as it reads rendered: without backticks."""
    line = inspect.getdoc(obj).split("\n", 1)[0]
    return " ".join(line.replace("`", " ").split())


def test_the_first_page_is_the_readme_and_its_links_lead_to_the_pages(site):
    page = (site / "index.html").read_text(encoding="utf-8")
    assert "Gradient descent in JAX" in page
    assert ">Quickstart<" in page or 'id="quickstart"' in page
    links = set(re.findall(r'<a[^>]*href="([\w-]+)/"', page))
    pages = {p.stem for p in (ROOT / "docs").glob("*.md")} - {"index"}
    assert pages <= links, pages - links


def test_the_tutorial_shows_the_figures(site):
    folder = site / "tutorial"
    page = (folder / "index.html").read_text(encoding="utf-8")
    figures = re.findall(r'<img[^>]*src="([^"]+)"', page)
    assert len(figures) == 7
    for figure in figures:
        assert (folder / figure).resolve().is_file(), figure


def test_every_public_name_has_its_entry(site):
    reference = (site / "api" / "jaxgd" / "index.html").read_text(encoding="utf-8")
    modules = {"datasets", "linear", "plot"}
    for name in sorted(set(jaxgd.__all__) - modules):
        assert f'id="jaxgd.{name}"' in reference, name
    for module in sorted(modules):
        page = (site / "api" / module / "index.html").read_text(encoding="utf-8")
        for name in getattr(jaxgd, module).__all__:
            assert f'id="jaxgd.{module}.{name}"' in page, f"{module}.{name}"


def test_docstrings_are_rendered_with_their_sections(site):
    reference = text_of(site / "api" / "jaxgd" / "index.html")
    modules = {"datasets", "linear", "plot"}
    for name in sorted(set(jaxgd.__all__) - modules):
        assert summary(getattr(jaxgd, name)) in reference, name
    fit = reference[reference.index(summary(jaxgd.fit)) :]
    fit = fit[: fit.index(summary(jaxgd.FitResult))]
    for section in ("Parameters:", "Returns:", "Raises:"):
        assert section in fit
    plots = text_of(site / "api" / "plot" / "index.html")
    for name in jaxgd.plot.__all__:
        assert summary(getattr(jaxgd.plot, name)) in plots, name


def test_the_mathematics_is_left_to_mathjax_and_nothing_is_raw(site):
    pages = sorted(site.rglob("*.html"))
    spans = 0
    for page in pages:
        text = page.read_text(encoding="utf-8")
        spans += text.count('class="arithmatex"')
        rest = _MATH.sub(" ", text)
        name = page.relative_to(site)
        assert ":math:" not in rest, name
        assert ".. math::" not in rest, name
        raw = _LATEX.search(rest)
        assert raw is None, f"{name}: {rest[raw.start() - 80 : raw.end() + 80]}"
    assert spans > 50  # the docstrings' mathematics reached the pages
    assert "mathjax.js" in (site / "index.html").read_text(encoding="utf-8")


def test_signatures_are_wrapped(site):
    reference = (site / "api" / "jaxgd" / "index.html").read_text(encoding="utf-8")
    signature = re.search(r"doc-signature.*?<code>(.*?)</code>", reference, re.S)
    lines = html.unescape(re.sub(r"<[^>]+>", "", signature.group(1))).splitlines()
    assert lines[0].startswith("fit(")
    assert len(lines) > 10
    assert max(map(len, lines)) <= 80

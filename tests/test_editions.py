"""The student edition (book/student/) and the answer key, written by
``python -m coursekit.editions`` from the chapters: in step with them, free of solutions,
plain Markdown that reads the same in Jupyter and on Colab, with the chapters' code cells
and their checks left blank. Also the site's student buttons and the instructor page's
launch links.

Running the student notebooks top to bottom is done elsewhere, not twice: nbval runs
them with the chapters (``python -m pytest book/``; they are committed without outputs, so
nbval compares nothing and fails on any error, a check that raised on a blank answer
included), and tests/test_jupyterlab.py runs them in JupyterLab and reads every check's
"no answer yet" from the saved notebooks. The blank message itself is tested in
tests/test_checks.py, against the chapters' stored outputs of the same cells."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest
import yaml
from conftest import ROOT

from coursekit import editions
from coursekit.checks import EXERCISES

BOOK = ROOT / "book"
STUDENT = ROOT / editions.STUDENT_DIR
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO = CONFIG["repository"]["url"].rstrip("/")
CHAPTERS = editions.chapters(ROOT)
SOLUTION = re.compile(r"^(`{3,})\{solution\}[^\n]*\n(.*?)^\1", re.M | re.S)


def _nb(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _text(cells, kind=None) -> str:
    return "\n".join("".join(c["source"]) for c in cells if kind is None or c["cell_type"] == kind)


def test_student_edition_is_in_step_with_the_chapters():
    problems = editions.out_of_step(ROOT)
    assert problems == [], "\n".join(problems) + "\nregenerate with: python -m coursekit.editions"
    assert sorted(p.name for p in STUDENT.glob("*.ipynb")) == [c.name for c in CHAPTERS]


def _copy_of_the_repository(tmp_path: Path) -> Path:
    """The chapters, their pages and _config.yml in a temporary folder (never the real book/)."""
    repo = tmp_path / "repo"
    shutil.copytree(BOOK, repo / "book", ignore=shutil.ignore_patterns("student", "tools", ".ipynb_checkpoints"))
    shutil.copy(ROOT / "_config.yml", repo / "_config.yml")
    return repo


def test_the_command_writes_both_editions_and_its_check_mode_catches_drift(tmp_path, monkeypatch):
    repo = _copy_of_the_repository(tmp_path)
    monkeypatch.chdir(repo / "book")  # any folder inside the repository
    assert editions.main([]) == 0
    written = {p.name: p.read_bytes() for p in (repo / "book" / "student").glob("*.ipynb")}
    assert written == {p.name: p.read_bytes() for p in STUDENT.glob("*.ipynb")}, "the committed edition is what the command writes"
    assert sorted(p.name for p in (repo / "_build" / "answer-key").glob("*.ipynb")) == [c.name for c in CHAPTERS]
    assert editions.main(["--check"]) == 0
    (repo / "book" / "student" / CHAPTERS[1].name).write_text("{}")
    assert editions.main(["--check"]) == 1
    assert editions.out_of_step(repo) == [f"out of step: book/student/{CHAPTERS[1].name}"]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.name for c in CHAPTERS])
def test_no_solution_reaches_the_student_notebook(chapter):
    source = _nb(chapter)
    student_raw = (STUDENT / chapter.name).read_text(encoding="utf-8")
    student = _nb(STUDENT / chapter.name)
    prose = _text(student["cells"], "markdown")
    code = _text(student["cells"], "code")
    solutions = SOLUTION.findall(_text(source["cells"], "markdown"))
    if not chapter.name.startswith(("00_",)):
        assert solutions, "a chapter with exercises has solutions"
    assert "{solution}" not in student_raw and "Solution to" not in student_raw
    # every sentence-sized piece of every solution is absent
    for _, body in solutions:
        body = re.sub(r"^:[\w-]+:.*$", "", body, flags=re.M)
        for piece in re.split(r"(?<=[.:;?!])\s+|\n\s*\n", body):
            piece = " ".join(piece.split())
            if len(piece) >= 30 and "{glue" not in piece:
                assert piece not in " ".join(prose.split()), f"solution text in the student notebook: {piece!r}"
    # the cells that compute the solutions' numbers are gone, and so are those numbers
    hidden = [c for c in source["cells"] if "solution" in c["metadata"].get("tags", [])]
    values = editions.glued_values(nbformat.reads(json.dumps(source), as_version=4))
    for cell in hidden:
        assert "".join(cell["source"]).strip() not in code
        for name in re.findall(r"glue\w*\(\s*f?[\"']([^\"'{]+)", "".join(cell["source"])):
            assert name not in student_raw
    for _, body in solutions:
        for name, spec in re.findall(r"\{glue:text\}`([A-Za-z0-9_]+):?([^`]*)`", body):
            if name.startswith("ex_"):  # glued for a solution only
                shown = format(values[name], spec)
                if len(shown.strip("-0.")) >= 2:
                    assert shown not in prose, f"the solution's number {name} = {shown} is in the student notebook"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.name for c in CHAPTERS])
def test_student_notebook_is_plain_markdown_with_the_numbers_written_out(chapter):
    student = _nb(STUDENT / chapter.name)
    source = _nb(chapter)
    prose = _text(student["cells"], "markdown")
    for pattern, what in editions.LEFTOVER:
        assert not pattern.search(prose), f"{what} left in the student notebook"
    assert not re.search(r"\{(glue|cite|exercise|admonition|numref|ref|doc|eq)[:}]", prose)
    # every number the chapter's prose glues (outside solutions) is there, formatted as on the site
    values = editions.glued_values(nbformat.reads(json.dumps(source), as_version=4))
    chapter_prose = SOLUTION.sub("", _text(source["cells"], "markdown"))
    used = re.findall(r"\{glue:text\}`([A-Za-z0-9_]+):?([^`]*)`", chapter_prose)
    assert used, "the chapter glues numbers into its prose"
    for name, spec in used:
        assert format(values[name], spec) in prose, f"{name}:{spec} is not written out"
    # exercises are headings numbered as on the site, and the notebook says what it is
    labels = re.findall(r"^:label: (\S+)", _text(source["cells"], "markdown"), re.M)
    number = int(chapter.name[:2])
    for k in range(1, len(labels) + 1):
        assert re.search(rf"^### Exercise {number}\.{k} \(", prose, re.M), f"Exercise {number}.{k}"
    assert "**Student notebook.**" in prose
    assert student["metadata"]["coursekit"]["edition"] == "student"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.name for c in CHAPTERS])
def test_student_notebook_keeps_the_code_and_the_checks_blank_and_unrun(chapter):
    student = _nb(STUDENT / chapter.name)
    source = _nb(chapter)
    kept = [c for c in source["cells"] if c["cell_type"] == "code" and "solution" not in c["metadata"].get("tags", [])]
    code = [c for c in student["cells"] if c["cell_type"] == "code"]
    assert [_text([c]) for c in code] == [_text([c]) for c in kept], "the same code cells, in the same order"
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code), "committed without outputs"
    first = _text([code[0]])
    assert "google.colab" in first and f"celib @ git+{REPO}" in first
    assert f"cross-entropy-coursekit @ git+{REPO}#subdirectory=book/tools" in first
    checks = re.findall(r"""^check\("([^"]+)",""", _text(code), re.M)
    assert all(label in EXERCISES for label in checks)
    if not chapter.name.startswith(("00_",)):
        assert checks, "every chapter with exercises has at least one check"


def test_coursekit_is_installed_from_where_the_colab_cell_says():
    pyproject = (ROOT / "book" / "tools" / "pyproject.toml").read_text()
    assert 'name = "cross-entropy-coursekit"' in pyproject and 'packages = ["coursekit"]' in pyproject
    requirements = (ROOT / "requirements.txt").read_text().split("\n")
    assert "-e ./book/tools" in requirements and any(r.startswith("jupyterlab") for r in requirements)
    for chapter in CHAPTERS:
        first = "".join(_nb(chapter)["cells"][0]["source"])
        assert f"cross-entropy-coursekit @ git+{REPO}#subdirectory=book/tools" in first, chapter.name


def test_answer_key_keeps_every_solution_in_plain_markdown():
    key = editions.build(ROOT, with_solutions=True)
    for chapter in CHAPTERS:
        nb = json.loads(key[chapter.name])
        prose = _text(nb["cells"], "markdown")
        n = len(SOLUTION.findall(_text(_nb(chapter)["cells"], "markdown")))
        assert prose.count("#### Solution to Exercise") == n
        for pattern, what in editions.LEFTOVER:
            assert not pattern.search(prose), f"{chapter.name}: {what} left in the answer key"
        assert nb["metadata"]["coursekit"]["edition"] == "answer key"


def test_converter_fails_loudly_on_myst_it_cannot_translate(tmp_path):
    root = _copy_of_the_repository(tmp_path)
    path = root / "book" / "01_binary_cross_entropy.ipynb"
    nb = _nb(path)
    nb["cells"][1]["source"] = ["# Title\n", "\n", "```{margin}\n", "a side note\n", "```\n"]
    path.write_text(json.dumps(nb))
    with pytest.raises(ValueError, match="no plain-Markdown form for the directive {margin}"):
        editions.edition(root, path, with_solutions=False)
    nb["cells"][1]["source"] = ["# Title\n", "\n", "See {numref}`fig-x`.\n"]
    path.write_text(json.dumps(nb))
    with pytest.raises(ValueError, match="a MyST role is left"):
        editions.edition(root, path, with_solutions=False)


# ---------------------------------------------------------------------------------------
# The site and the instructor page
# ---------------------------------------------------------------------------------------
#: each edition's pages (site folder), student notebooks (repository folder) and button words
SITE_EDITIONS = {
    "en": ("book", "book/student", (".ipynb (student)", ".ipynb, with solutions", "Binder, with solutions",
                                     "Colab, with solutions")),
    "zh": ("zh", "book/zh/student", (".ipynb（学生版）", ".ipynb（含解答）", "Binder（含解答）", "Colab（含解答）")),
}


@pytest.mark.parametrize("edition", list(SITE_EDITIONS))
def test_site_offers_the_student_notebook(built_site, edition):
    """A chapter's launch and download buttons give its edition's student notebook, in its language."""
    pages, students, labels = SITE_EDITIONS[edition]
    repo = urlparse(REPO).path.strip("/")
    for chapter in CHAPTERS:
        html = (built_site / pages / f"{chapter.stem}.html").read_text(encoding="utf-8")
        student = f"{students}/{chapter.name}"
        assert f"https://mybinder.org/v2/gh/{repo}/main?urlpath=tree/{student}" in html
        assert f"https://colab.research.google.com/github/{repo}/blob/main/{student}" in html
        assert f'href="student/{chapter.name}"' in html, "the download menu's student notebook"
        assert (built_site / pages / "student" / chapter.name).read_bytes() == (ROOT / student).read_bytes()
        for label in labels:
            assert f'btn__text-container">{label}<' in html, label
    # the appendix notebooks have no student edition: their buttons are the theme's
    appendix = (built_site / pages / "appendix" / "numerical_stability.html").read_text(encoding="utf-8")
    path = "book/appendix" if edition == "en" else "book/zh/appendix"
    assert "/student/" not in appendix and f"urlpath=tree/{path}/numerical_stability.ipynb" in appendix


def test_checks_are_shown_on_the_site_under_their_exercise(built_site):
    for label, ex in EXERCISES.items():
        chapter = next(c for c in CHAPTERS if f":label: {label}" in c.read_text(encoding="utf-8"))
        html = (built_site / "book" / f"{chapter.stem}.html").read_text(encoding="utf-8")
        exercise = html.find(f'id="{label}"')
        assert exercise >= 0, label
        shown = html.find(f"{label}: no answer yet", exercise)
        solution = html.find("Solution to", exercise)
        assert exercise < shown < solution, f"{label}: the check and its output come between the exercise and its solution"


def test_instructor_page_links_every_student_notebook_on_binder_and_colab():
    page = (BOOK / "instructors.md").read_text(encoding="utf-8")
    repo = urlparse(REPO).path.strip("/")
    binder = set(re.findall(rf"https://mybinder\.org/v2/gh/{repo}/main\?urlpath=tree/(book/student/[\w.]+)\)", page))
    colab = set(re.findall(rf"https://colab\.research\.google\.com/github/{repo}/blob/main/(book/student/[\w.]+)\)", page))
    expected = {f"book/student/{c.name}" for c in CHAPTERS}
    assert binder == expected and colab == expected
    assert len(re.findall(r"https://mybinder\.org/", page)) == len(expected), "no link elsewhere"
    for label in re.findall(r"`(ex-[\w-]+)`", page):
        assert label in page and any(f":label: {label}" in c.read_text(encoding="utf-8") for c in CHAPTERS), label
    checked = set(re.findall(r"\| (`ex-[^|]*)\| ", page))
    assert {lab for cell in checked for lab in re.findall(r"`(ex-[\w-]+)`", cell)} == set(EXERCISES)
    for heading in ("50-minute", "90-minute", "Launching Binder", "answer key", "Adapting a chapter"):
        assert heading in page
    assert "python -m coursekit.editions" in page


# ---------------------------------------------------------------------------------------
# Interactive figures: they run on the website only
# ---------------------------------------------------------------------------------------
def test_interactive_figures_become_a_pointer_to_the_website():
    """The student notebook holds no figure markup and no script (without the site's
    scripts it would be dead inputs): one line with the figure's caption and a link to it."""
    site = editions.site_url(ROOT)
    found = 0
    for chapter in CHAPTERS:
        source = _text(_nb(chapter)["cells"], "markdown")
        student = _text(_nb(STUDENT / chapter.name)["cells"], "markdown")
        assert not re.search(r"data-widget|data-quantity|<script|<svg|<input", student), chapter.name
        for anchor in re.findall(r'<figure\b[^>]*data-widget="[\w-]+"[^>]*\sid="([\w-]+)"', source):
            link = f"{site}/book/{chapter.stem}.html#{anchor}"
            line = next((ln for ln in student.split("\n") if link in ln), "")
            assert line.startswith("> **Interactive figure**"), f"{chapter.name}: no pointer to {link}"
            assert len(line) > len(link) + 60, "the pointer carries the figure's caption"
            found += 1
    assert found >= 4


def test_widget_markup_converts_or_fails_loudly(tmp_path):
    root = _copy_of_the_repository(tmp_path)
    path = root / "book" / "01_binary_cross_entropy.ipynb"
    nb = _nb(path)
    widget = ('<figure class="ce-widget" data-widget="demo" id="widget-demo">\n<svg viewBox="0 0 4 3"></svg>\n'
              '<form><label>x <input type="range" name="x" min="0" max="1" step="0.1"></label></form>\n'
              '<figcaption>Move <i>x</i> &amp; watch.</figcaption>\n</figure>\n'
              '<script defer src="../_static/widgets/plot.js"></script>\n'
              '<script defer src="../_static/widgets/demo.js"></script>\n')
    nb["cells"].insert(2, {"cell_type": "markdown", "id": "demo", "metadata": {}, "source": "Before.\n\n" + widget + "\nAfter."})
    path.write_text(json.dumps(nb))
    out = json.loads(editions.edition(root, path, with_solutions=False))
    text = "".join(next(c["source"] for c in out["cells"] if c.get("id") == "demo"))
    url = f"{editions.site_url(root)}/book/01_binary_cross_entropy.html#widget-demo"
    assert text == f"Before.\n\n> **Interactive figure**, on the [course website]({url}): Move x & watch.\n\nAfter."
    # markup the converter does not recognise (here: indented) is an error, not a dead figure
    nb["cells"][2]["source"] = "  " + widget
    path.write_text(json.dumps(nb))
    with pytest.raises(ValueError, match="an interactive figure's markup"):
        editions.edition(root, path, with_solutions=False)

"""The book as files: layout, table of contents, notebooks, and the strictly built HTML."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from conftest import BUILD_COMMAND, ROOT

BOOK = ROOT / "book"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
# book/student/ holds the student edition, generated from the chapters and checked by test_editions.py
NOTEBOOKS = sorted(p for p in BOOK.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and p.parent.name != "student")
CHAPTERS = [p for p in NOTEBOOKS if re.match(r"\d\d_", p.name)]


def _toc_files(node) -> list[str]:
    found = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                found.append(node[key])
        for value in node.values():
            found += _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            found += _toc_files(item)
    return found


def _cells(nb_path: Path):
    return json.loads(nb_path.read_text())["cells"]


def test_layout_exists():
    for name in ["README.md", "_config.yml", "_toc.yml", "requirements.txt", "pyproject.toml", ".ci/run", "book", "celib", "tests", "benchmarks"]:
        assert (ROOT / name).exists(), name


def test_every_page_is_in_the_toc_and_every_toc_entry_exists():
    listed = {str(Path(f).with_suffix("")) for f in _toc_files(TOC)}
    pages = {str(p.relative_to(ROOT).with_suffix("")) for p in NOTEBOOKS + sorted(BOOK.rglob("*.md"))}
    assert pages - listed == set(), "pages missing from _toc.yml"
    assert listed - pages == set(), "_toc.yml entries with no file"


def test_there_are_chapters():
    assert len(CHAPTERS) >= 2


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_committed_executed_without_errors(nb):
    code = [c for c in _cells(nb) if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    assert code, "no code cells"
    unrun = [i for i, c in enumerate(code) if c.get("execution_count") is None]
    assert not unrun, f"code cells never executed (nbval would compare nothing): {unrun}"
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), f"cells not run top to bottom in one kernel: {counts}"
    for c in code:
        for out in c.get("outputs", []):
            assert out["output_type"] != "error", f"stored error: {out.get('ename')}: {out.get('evalue')}"
            assert not (out["output_type"] == "stream" and out["name"] == "stderr"), f"stored stderr: {out['text'][:200]}"
            text = "".join(out.get("data", {}).get("text/plain", "")) if "data" in out else "".join(out.get("text", ""))
            assert not re.search(r"\b0x[0-9a-f]{6,}\b", text), f"memory address in a stored output: {text[:120]}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_imports_celib_and_installs_it_on_colab(nb):
    cells = _cells(nb)
    first = cells[0]
    assert first["cell_type"] == "code" and "remove-cell" in first["metadata"].get("tags", [])
    src = "".join(first["source"])
    assert "google.colab" in src and f"git+{CONFIG['repository']['url']}" in src, (
        "the hidden Colab cell must install celib from the repository URL in _config.yml"
    )
    assert any(re.search(r"^import celib|^from celib", "".join(c["source"]), re.M) for c in cells if c["cell_type"] == "code")


@pytest.mark.parametrize("nb", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_chapter_has_a_figure_with_alt_text_glued_numbers_and_exercises(nb):
    cells = _cells(nb)
    figures = [c for c in cells if c["cell_type"] == "code" and any("image/png" in o.get("data", {}) for o in c.get("outputs", []))]
    assert figures, "no figure"
    for c in figures:
        alt = c["metadata"].get("mystnb", {}).get("image", {}).get("alt", "")
        assert len(alt) > 30, f"figure without meaningful alt text: {''.join(c['source'])[:80]}"
    markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert "{glue:text}" in markdown, "no glued number in the prose"
    if not nb.name.startswith("00_"):
        assert "```{exercise}" in markdown and ":class: dropdown" in markdown, "exercises with hidden solutions"
        assert "Common pitfalls" in markdown or nb.name.startswith("07_"), "a common-pitfalls box"


def test_glued_names_are_defined_in_the_same_notebook():
    for nb in NOTEBOOKS:
        cells = _cells(nb)
        used = set(re.findall(r"\{glue:text\}`([A-Za-z0-9_]+)", "\n".join("".join(c["source"]) for c in cells)))
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        names = re.findall(r"glue\w*\(\s*(f?)[\"']([^\"']+)[\"']", code)
        # f"ex_g{i}" defines every name that matches ex_g\w+
        patterns = [re.escape(n) if not f else re.sub(r"\\\{[^}]*\\\}", r"\\w+", re.escape(n)) for f, n in names]
        missing = {u for u in used if not any(re.fullmatch(p, u) for p in patterns)}
        assert not missing, f"{nb.name}: glued in the prose but never defined: {missing}"


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    build = re.search(r"<!-- build-command -->\s*```(?:bash|sh)?\n(.+?)\n```", readme, re.S).group(1).strip()
    test = re.search(r"<!-- test-command -->\s*```(?:bash|sh)?\n(.+?)\n```", readme, re.S).group(1).strip()
    assert " ".join(BUILD_COMMAND[:2]) in build and "-W -n --keep-going" in build
    assert "pytest" in test
    assert test in ci, ".ci/run must call the README's test command verbatim"
    assert "set -euo pipefail" in ci


# ---------------------------------------------------------------------------------------
# The built HTML (the strict build itself runs in the built_site fixture)
# ---------------------------------------------------------------------------------------
class _Resources(HTMLParser):
    """Collect every URL a page would *load* (not links it merely offers)."""

    LOADS = {"script": "src", "img": "src", "iframe": "src", "source": "src", "audio": "src", "video": "src", "embed": "src", "object": "data"}

    def __init__(self):
        super().__init__()
        self.loads: list[str] = []
        self.images: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in self.LOADS and a.get(self.LOADS[tag]):
            self.loads.append(a[self.LOADS[tag]])
        if tag == "link" and a.get("href") and set((a.get("rel") or "").split()) & {"stylesheet", "preload", "icon", "modulepreload", "prefetch", "manifest"}:
            self.loads.append(a["href"])
        if tag == "img":
            self.images.append(a)


def _pages(site: Path):
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts)


def test_strict_build_produces_every_page(built_site):
    for f in _toc_files(TOC):
        assert (built_site / Path(f).with_suffix(".html")).exists(), f


def test_no_page_loads_anything_from_another_host(built_site):
    offenders = []
    for page in _pages(built_site):
        parser = _Resources()
        parser.feed(page.read_text(encoding="utf-8"))
        offenders += [(page.name, u) for u in parser.loads if urlparse(u).scheme in ("http", "https") or u.startswith("//")]
    for css in (built_site / "_static").rglob("*.css"):
        for url in re.findall(r"url\(\s*['\"]?((?:https?:)?//[^)'\"]+)", css.read_text(encoding="utf-8", errors="replace")):
            offenders.append((css.name, url))
    assert offenders == []


def test_math_is_served_from_the_site(built_site):
    html = (built_site / "book" / "01_binary_cross_entropy.html").read_text()
    assert re.search(r'<script[^>]+src="[./]*_static/mathjax/tex-chtml\.js', html)
    assert (built_site / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()


def test_every_content_image_has_alt_text(built_site):
    missing = []
    for page in _pages(built_site):
        parser = _Resources()
        parser.feed(page.read_text(encoding="utf-8"))
        missing += [(page.name, img.get("src")) for img in parser.images if not (img.get("alt") or "").strip() and "logo" not in (img.get("class") or "")]
    assert missing == []


def test_launch_and_download_buttons(built_site):
    html = (built_site / "book" / "01_binary_cross_entropy.html").read_text()
    repo = urlparse(CONFIG["repository"]["url"]).path.strip("/")
    assert f"https://mybinder.org/v2/gh/{repo}/main?urlpath=tree/book/01_binary_cross_entropy.ipynb" in html
    assert f"https://colab.research.google.com/github/{repo}/blob/main/book/01_binary_cross_entropy.ipynb" in html
    assert "_sources/book/01_binary_cross_entropy.ipynb" in html  # the .ipynb download
    assert "thebe" not in html.lower().replace("data-thebe", "")  # thebe is off


def test_exercise_solutions_are_hidden_by_default(built_site):
    html = (built_site / "book" / "01_binary_cross_entropy.html").read_text()
    assert html.count('class="solution') >= 1
    assert re.search(r'<details class="[^"]*solution[^"]*dropdown', html) or re.search(r'class="[^"]*solution[^"]*dropdown', html)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_figures_use_the_course_palette(nb):
    """Colours are set once for the book (celib.MPLSTYLE: Okabe-Ito colours, each with its
    own line style, distinguishable in greyscale and by colour-blind readers)."""
    cells = _cells(nb)
    has_figure = any("image/png" in o.get("data", {}) for c in cells if c["cell_type"] == "code" for o in c.get("outputs", []))
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    if has_figure:
        assert "plt.style.use(celib.MPLSTYLE)" in code
    assert not re.search(r"color\s*=\s*['\"]#?[0-9a-fA-F]{6}['\"]|color\s*=\s*['\"](red|green|blue)['\"]", code), "colours come from the style"


def test_the_palette_is_colour_blind_safe():
    style = (ROOT / "celib" / "course.mplstyle").read_text()
    okabe_ito = ["0072B2", "D55E00", "009E73", "CC79A7", "E69F00", "56B4E9"]
    assert all(c in style for c in okabe_ito) and "linestyle" in style

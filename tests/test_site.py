"""The book as files: layout, table of contents, notebooks, and the strictly built HTML."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
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
    # the Chinese edition (book/zh) has its own _toc.yml, checked by test_two_editions.py
    pages = {str(p.relative_to(ROOT).with_suffix("")) for p in NOTEBOOKS + sorted(BOOK.rglob("*.md"))
             if "zh" not in p.relative_to(BOOK).parts}
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
        pitfalls = "常见错误" if "zh" in nb.relative_to(BOOK).parts else "Common pitfalls"
        assert pitfalls in markdown or nb.name.startswith("07_"), "a common-pitfalls box"


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


def test_math_is_typeset_at_build_time(built_site):
    """Every formula is KaTeX's HTML in the page (no math engine in the browser), none failed."""
    typeset = 0
    for page in _pages(built_site):
        html = page.read_text(encoding="utf-8")
        assert not re.search(r"<script[^>]*mathjax|MathJax\s*=", html, re.I), f"{page.name}: MathJax is still loaded"
        assert "katex-error" not in html, f"{page.name}: a formula KaTeX could not parse"
        for m in re.finditer(r'<(span|div) class="math[^"]*"[^>]*>(.{0,200})', html, re.S):
            assert '<span class="katex' in m.group(2), f"{page.name}: formula not typeset: {m.group(2)[:80]}"
            typeset += 1
    assert typeset > 300  # the chapters are full of formulas: a check that found none is broken
    assert not (built_site / "_static" / "mathjax").exists()


def test_vendored_katex_is_the_version_that_renders():
    """book/_ext/katex (style sheet, fonts, copy-tex) must match the KaTeX that
    sphinxcontrib-katex renders with, or the pre-rendered HTML and the CSS disagree."""
    katex = pytest.importorskip("sphinxcontrib.katex")
    css = (BOOK / "_ext" / "katex" / "katex.min.css").read_text()
    assert re.search(r'katex-version:after\{content:"([\d.]+)"', css).group(1) == katex.katex_version
    fonts = {p.stem for p in (BOOK / "_ext" / "katex" / "fonts").glob("*.woff2")}
    assert fonts == set(re.findall(r"url\(fonts/([\w-]+)\.woff2\)", css))


# ---------------------------------------------------------------------------------------
# Light pages (issue 17): what each page loads, and what it says about itself
# ---------------------------------------------------------------------------------------
_spec = importlib.util.spec_from_file_location("celib_benchmarks_site_weight", ROOT / "benchmarks" / "site_weight.py")
site_weight = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(site_weight)


def _head(html: str) -> str:
    return html[: html.index("</head>")]


def _real_pages(site: Path):
    """Pages with a head (index.html is a one-line redirect to the welcome page)."""
    return [p for p in _pages(site) if "<head" in p.read_text(encoding="utf-8")]


def test_every_page_loads_at_most_the_budget_and_nothing_missing(built_site):
    weights = site_weight.site_weights(built_site)
    assert len(weights) >= len(_toc_files(TOC)) + 3  # the chapters, search, indices
    missing = [m for w in weights for m in w.missing]
    assert missing == [], "pages reference files that are not in the site"
    assert [f for w in weights for f in w.foreign] == []
    over = {w.page: w.total for w in weights if w.total > site_weight.BUDGET}
    assert over == {}, f"pages over {site_weight.BUDGET} bytes (compressed)"
    for w in weights:
        if w.page != "index.html":
            # a page that seems to load nothing but itself means the counter is broken
            assert any(f.endswith(".css") for f in w.files) and any(f.endswith(".js") for f in w.files), w.page


def test_the_weight_counter_counts_what_a_page_loads(tmp_path):
    """site_weight on a made-up site: every kind of reference, gzip for text, the first
    source of a font, a missing file, another host, a page over the budget."""
    import gzip

    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "a.css").write_text(
        '@import "b.css"; body{background:url(img.png)} '
        '@font-face{font-family:F;src:url(f.woff2) format("woff2"),url(f.ttf) format("truetype")}'
    )
    (tmp_path / "s" / "b.css").write_text("p{color:red}")
    (tmp_path / "s" / "img.png").write_bytes(b"\x89PNG" + bytes(1000))
    (tmp_path / "s" / "f.woff2").write_bytes(bytes(300))
    (tmp_path / "s" / "f.ttf").write_bytes(bytes(5000))  # a fallback the browser never fetches
    (tmp_path / "s" / "x.js").write_text("console.log(1);" * 50)
    (tmp_path / "big.png").write_bytes(bytes(site_weight.BUDGET))
    page = tmp_path / "p.html"
    page.write_text(
        '<!DOCTYPE html><html><head><link rel="stylesheet" href="s/a.css?v=1">'
        '<link rel="icon" href="s/img.png"><script defer src="s/x.js"></script></head>'
        '<body><img src="s/img.png" srcset="big.png 2x"><img src="gone.png">'
        '<script src="https://cdn.example.org/lib.js"></script><a href="other.html">not loaded</a></body></html>'
    )
    w = site_weight.page_weight(tmp_path, page)
    text = lambda p: len(gzip.compress(p.read_bytes(), compresslevel=site_weight.GZIP_LEVEL, mtime=0))
    expected = {
        "p.html": text(page), "s/a.css": text(tmp_path / "s" / "a.css"), "s/b.css": text(tmp_path / "s" / "b.css"),
        "s/img.png": 1004, "s/f.woff2": 300, "s/x.js": text(tmp_path / "s" / "x.js"), "big.png": site_weight.BUDGET,
    }
    assert w.files == expected
    assert w.missing == ["p.html -> gone.png"]
    assert w.foreign == ["https://cdn.example.org/lib.js"]
    assert w.total > site_weight.BUDGET


def test_no_render_blocking_script_and_one_style_sheet(built_site):
    for page in _real_pages(built_site):
        head = _head(page.read_text(encoding="utf-8"))
        blocking = [t for t in re.findall(r"<script\b[^>]*\ssrc=[^>]*>", head) if not re.search(r"\s(defer|async)\b", t)]
        assert blocking == [], f"{page.name}: scripts that block rendering"
        sheets = re.findall(r'<link\b[^>]*rel="stylesheet"[^>]*>', head)
        assert len(sheets) == 1 and "_static/site.css" in sheets[0], f"{page.name}: {sheets}"
        search_tools = "searchindex.js" in page.read_text(encoding="utf-8")
        assert search_tools == (page.name == "search.html"), f"{page.name}: the search index belongs to the search page only"


def test_icons_are_inline_svg_without_font_awesome(built_site):
    for page in _real_pages(built_site):
        html = page.read_text(encoding="utf-8")
        assert not re.search(r'<(i|span)\b[^>]*class="[^"]*\bfa[srb]?\b', html), f"{page.name}: a Font Awesome <i> is left"
        assert "fontawesome" not in html.lower()
        icons = re.findall(r'<svg class="svg-inline--fa[^"]*"[^>]*>(.*?)</svg>', html)
        assert len(icons) >= 5 and all("<path" in i for i in icons), page.name
        assert all('aria-hidden="true"' in t for t in re.findall(r'<svg class="svg-inline--fa[^>]*>', html))
    assert not list(built_site.rglob("*fontawesome*")) and not list(built_site.rglob("fa-*.woff2"))


def test_every_page_describes_itself(built_site):
    """lang, title, meta description, Open Graph title/description/image, favicon."""
    for page in _real_pages(built_site):
        html = page.read_text(encoding="utf-8")
        head = _head(html)
        assert re.search(r'<html[^>]*\slang="[a-z]{2,3}(?:[-_][A-Za-z]{2,4})?"', html), f"{page.name}: no lang"
        assert re.search(r"<title>[^<]{5,}</title>", head), page.name
        description = re.search(r'<meta name="description" content="([^"]+)"', head)
        assert description and len(description.group(1)) >= 40, f"{page.name}: no meta description"
        icon = re.search(r'<link rel="icon" href="([^"]+)"', head)
        assert icon and (page.parent / icon.group(1)).is_file(), page.name
        if page.name in ("search.html", "genindex.html", "py-modindex.html"):
            continue  # generated pages: no document to take Open Graph data from
        for prop in ("og:title", "og:description", "og:image", "og:url"):
            assert re.search(rf'<meta property="{prop}" content="[^"]+"', head), f"{page.name}: {prop}"
        image = re.search(r'<meta property="og:image" content="([^"]+)"', head).group(1)
        assert image.startswith("https://") and (built_site / urlparse(image).path.split("/", 2)[-1]).is_file(), image


def test_every_image_has_its_size(built_site):
    """width and height on every <img>, the file's own (no layout shift as images load)."""
    import imagesize

    checked = 0
    for page in _real_pages(built_site):
        for tag in re.findall(r"<img\b[^>]*>", page.read_text(encoding="utf-8")):
            w, h = re.search(r'\swidth="(\d+)"', tag), re.search(r'\sheight="(\d+)"', tag)
            assert w and h, f"{page.name}: {tag[:120]}"
            src = (page.parent / re.search(r'\ssrc="([^"]+)"', tag).group(1)).resolve()
            if src.suffix == ".png":
                assert imagesize.get(str(src)) == (int(w.group(1)), int(h.group(1)))
                checked += 1
    assert checked >= 15  # the chapters' figures


def test_bibliography_markup_passes_aria(built_site):
    html = (built_site / "book" / "appendix" / "references.html").read_text()
    entries = re.findall(r'<div class="citation"[^>]*>', html)
    assert len(entries) >= 8 and all('role="listitem"' in e for e in entries)
    assert "doc-biblioentry" not in html and '<div role="list" class="citation-list">' in html


def test_static_folder_holds_what_pages_load(built_site):
    files = [f for f in (built_site / "_static").rglob("*") if f.is_file()]
    size = sum(f.stat().st_size for f in files)
    assert size < 1_500_000, f"_static is {size} bytes"
    assert not [f for f in files if f.suffix in (".po", ".mo", ".ttf", ".woff")]


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


# ---------------------------------------------------------------------------------------
# The interactive figures (issue 18; README, "Adding an interactive figure")
# ---------------------------------------------------------------------------------------
WIDGETS_DIR = BOOK / "_static" / "widgets"
#: what the figures together may add, compressed (the issue: "at most 60 KB")
WIDGETS_BUDGET = 60_000


def test_interactive_figures_weigh_at_most_60_kb_compressed():
    files = sorted(f for f in WIDGETS_DIR.rglob("*") if f.is_file())
    assert any(f.name == "plot.js" for f in files) and len(files) >= 6
    total = sum(len(site_weight.compress(f.read_bytes())) for f in files)
    assert 1_000 < total <= WIDGETS_BUDGET, f"book/_static/widgets: {total} bytes gzipped"


def test_pages_load_their_figures_deferred_and_lean_site_keeps_them(built_site):
    """Each chapter with a figure loads the shared module and the figure's script, in that
    order, deferred, from _static/widgets (published: lean_site prunes only unused files);
    the figures' style rules survive the purge of site.css (some are named only by a script)."""
    pages = 0
    for chapter in CHAPTERS:
        source = "\n".join("".join(c["source"]) for c in _cells(chapter) if c["cell_type"] == "markdown")
        names = re.findall(r'data-widget="([\w-]+)"', source)
        if not names:
            continue
        pages += 1
        html = (built_site / "book" / f"{chapter.stem}.html").read_text(encoding="utf-8")
        body = html[html.index("<body"):]
        tags = re.findall(r'<script\b[^>]*\ssrc="([^"]*_static/widgets/[^"]+)"[^>]*>', body)
        srcs = [re.sub(r"\?.*$", "", s) for s in tags]
        for name in names:
            assert f'data-widget="{name}"' in html
            assert srcs.index("../_static/widgets/plot.js") < srcs.index(f"../_static/widgets/{name}.js"), srcs
        for tag in re.findall(r'<script\b[^>]*_static/widgets/[^>]*>', body):
            assert re.search(r"\sdefer\b", tag), tag
        for src in srcs:
            assert (built_site / "book" / src).resolve().is_file(), src
    assert pages >= 4
    css = (built_site / "_static" / "site.css").read_text(encoding="utf-8")
    for rule in (".ce-widget .ce-s1", ".ce-widget .ce-bar1", ".ce-widget .ce-dot1", "html[data-theme=\"dark\"] .ce-widget"):
        assert rule in css, f"{rule} purged from site.css"


# ---------------------------------------------------------------------------------------
# Two editions, one site (issue 19): book/_ext/two_editions.py
# ---------------------------------------------------------------------------------------
def _switch(page: Path) -> Path:
    m = re.search(r'<a class="btn btn-sm lang-switch" href="([^"]+)" hreflang="([^"]+)"', page.read_text(encoding="utf-8"))
    assert m, f"{page}: no language switch"
    return (page.parent / m.group(1)).resolve()


def _lang(page: Path) -> str:
    return re.search(r'<html[^>]*\slang="([^"]+)"', page.read_text(encoding="utf-8")).group(1)


def test_every_page_switches_to_the_same_page_in_the_other_edition_and_back(built_site):
    site = built_site.resolve()
    english = [p for p in _pages(site) if p.relative_to(site).parts[0] != "zh"]
    chinese = [p for p in _pages(site) if p.relative_to(site).parts[0] == "zh"]
    assert len(chinese) == len(english), "one Chinese page for each English one"
    for page in english + chinese:
        other = _switch(page)
        assert other.is_file(), f"{page.relative_to(site)}: the switch leads to a missing page {other}"
        assert (other.relative_to(site).parts[0] == "zh") != (page.relative_to(site).parts[0] == "zh")
        if page.name != "index.html":  # the front door is the welcome page's copy
            assert _switch(other) == page.resolve(), f"{page.relative_to(site)} -> {other.relative_to(site)} does not lead back"
        assert _lang(page) == ("zh-CN" if page.relative_to(site).parts[0] == "zh" else "en"), page
        alternates = dict(re.findall(r'<link rel="alternate" hreflang="([^"]+)" href="([^"]+)"', page.read_text(encoding="utf-8")))
        assert set(alternates) == {"en", "zh-CN"}, f"{page.relative_to(site)}: hreflang pair"
        assert all(u.startswith("https://") for u in alternates.values()), "hreflang addresses are absolute"
        if page.name != "index.html":
            own = "zh-CN" if page.relative_to(site).parts[0] == "zh" else "en"
            assert alternates[own].endswith("/" + page.relative_to(site).as_posix()), (page, alternates)
    for f in _toc_files(TOC):
        assert (site / "zh" / Path(f).relative_to("book").with_suffix(".html")).is_file(), f


def _pasted(page: Path) -> list[str]:
    """The glued numbers a page shows."""
    return sorted(re.findall(r'<span class="pasted-text">([^<]*)</span>', page.read_text(encoding="utf-8")))


def _figures(page: Path) -> int:
    return len(re.findall(r'<img[^>]+src="[^"]*_images/', page.read_text(encoding="utf-8")))


def test_both_editions_show_the_same_numbers_and_figures(built_site):
    for f in _toc_files(TOC):
        en = built_site / Path(f).with_suffix(".html")
        zh = built_site / "zh" / Path(f).relative_to("book").with_suffix(".html")
        assert _pasted(en) == _pasted(zh), f"{f}: the glued numbers differ between the editions"
        assert _figures(en) == _figures(zh), f"{f}: the number of figures differs"
        assert en.read_text(encoding="utf-8").count("data-widget=") == zh.read_text(encoding="utf-8").count("data-widget=")


def _search_index(built_site: Path, edition: str = "zh") -> dict:
    text = (built_site / edition / "searchindex.js").read_text(encoding="utf-8")
    return json.loads(text[text.index("(") + 1: text.rindex(")")])


@pytest.mark.parametrize("term,page", [("交叉熵", "01_binary_cross_entropy"), ("焦点损失", "06_distribution_focal_loss"),
                                       ("独热编码", "02_multiclass_one_hot"), ("标签平滑", "04_true_class"),
                                       ("均方误差", "05_ce_vs_mse")])
def test_chinese_search_finds_the_pages_that_teach_a_term(built_site, term, page):
    index = _search_index(built_site)
    docs = index["terms"].get(term, [])
    docs = [docs] if isinstance(docs, int) else docs
    titles = index["titleterms"].get(term, [])
    titles = [titles] if isinstance(titles, int) else titles
    found = {index["docnames"][d] for d in docs + titles}
    assert page in found, f"searching {term} does not find {page} (finds {sorted(found)})"


def test_each_edition_loads_only_its_own_files(built_site):
    """A Chinese page loads its scripts, styles and images from zh/ (its own site, whose
    build purged its style sheet against them), never from the English site's folders."""
    site = built_site.resolve()
    offenders = []
    for page in _pages(site):
        zh = page.relative_to(site).parts[0] == "zh"
        parser = _Resources()
        parser.feed(page.read_text(encoding="utf-8"))
        for url in parser.loads:
            if re.match(r"^[a-z]+:|^//|^#", url):
                continue
            target = (page.parent / url.split("?")[0].split("#")[0]).resolve()
            if zh != (target.relative_to(site).parts[0] == "zh"):
                offenders.append(f"{page.relative_to(site)} loads {url}")
    assert not offenders, "\n".join(offenders[:20])

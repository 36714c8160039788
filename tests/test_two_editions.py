"""The English and Chinese editions in step, page by page and cell by cell.

The Chinese edition (``book/zh/``) mirrors every English page at the same relative path.
Its notebooks run the same code: only comments and the text of strings shown to the
reader (labels, titles, printed words) may differ, so every glued number, every printed
number and every figure's data are the same in both. When an English chapter changes,
these tests name the Chinese cells that are now out of step.

The built site's side (language switch both ways, ``lang``, Chinese search) is checked in
``tests/test_site.py`` and ``tests/test_browser.py``.
"""

from __future__ import annotations

import io
import json
import re
import tokenize
from collections import Counter
from pathlib import Path

import pytest
import yaml
from markdown_it import MarkdownIt
from mdit_py_plugins.amsmath import amsmath_plugin
from mdit_py_plugins.dollarmath import dollarmath_plugin

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
ZH = BOOK / "zh"
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
GLUE = re.compile(r"\{glue(?::text)?\}`([A-Za-z0-9_]+)(?::([^`]*))?`")
MD = MarkdownIt("commonmark").enable("table").use(dollarmath_plugin).use(amsmath_plugin)
LINK = re.compile(r"\]\(([^)\s]+)\)")
DIRECTIVE = re.compile(r"^\s*(?:`{3,}|:{3,})\{([\w:-]+)\}", re.M)
OPTION = re.compile(r"^:(label|class|filter|members|all|nocite|style):.*$", re.M)
TARGET = re.compile(r"^\(([\w-]+)\)=\s*$", re.M)
FIELD = re.compile(r"(?<!\{)\{([^{}]*)\}(?!\})")


def _toc_files(toc: dict) -> list[str]:
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part.get("chapters", [])]
    return files


EN_PAGES = [f.removeprefix("book/") for f in _toc_files(yaml.safe_load((ROOT / "_toc.yml").read_text()))]
ZH_PAGES = _toc_files(yaml.safe_load((ZH / "_toc.yml").read_text()))


def _source(page: str, book: Path) -> Path:
    for suffix in (".ipynb", ".md"):
        if (book / f"{page}{suffix}").is_file():
            return book / f"{page}{suffix}"
    raise FileNotFoundError(book / page)


def _text(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


# ---------------------------------------------------------------------------------------
# What "the same code" means
# ---------------------------------------------------------------------------------------
def code_tokens(source: str) -> list[tuple[int, str]]:
    """The cell's tokens without comments and layout (IPython magics kept as text)."""
    lines = [("#%" + line) if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n")]
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENCODING, tokenize.ENDMARKER}
    found = []
    for tok in tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline):
        if tok.type == tokenize.COMMENT and tok.string.startswith("#%"):
            found.append((tokenize.OP, tok.string))  # a magic: compared as it is
        elif tok.type not in skip:
            found.append((tok.type, tok.string))
    return found


def string_differs_only_in_words(en: str, zh: str) -> bool:
    """A string literal may be translated: the Chinese one has Chinese in it, and an
    f-string keeps every replacement field ({x:.3f}) in the same order."""
    if en == zh:
        return True
    if not CJK.search(zh):
        return False
    prefix = re.match(r"^[A-Za-z]*", en).group(0).lower()
    if prefix != re.match(r"^[A-Za-z]*", zh).group(0).lower():
        return False
    if "f" in prefix:
        return FIELD.findall(en) == FIELD.findall(zh)
    return True


def code_differences(en: str, zh: str) -> list[str]:
    """Why two code cells are not the same code (empty: same code)."""
    a, b = code_tokens(en), code_tokens(zh)
    if len(a) != len(b):
        return [f"{len(a)} tokens in English, {len(b)} in Chinese"]
    problems = []
    for (ta, sa), (tb, sb) in zip(a, b):
        if ta != tb:
            problems.append(f"{sa!r} became {sb!r}")
        elif ta == tokenize.STRING:
            if not string_differs_only_in_words(sa, sb):
                problems.append(f"string {sa!r} became {sb!r} (only words may be translated)")
        elif sa != sb:
            problems.append(f"{sa!r} became {sb!r}")
    return problems


def test_the_code_comparison_can_fail():
    same = 'x = f(1)  # one\nplt.title("loss")\nprint(f"{x:.3f} nats")'
    zh = 'x = f(1)  # 一\nplt.title("损失")\nprint(f"{x:.3f} 奈特")'
    assert code_differences(same, zh) == []
    assert code_differences(same, zh.replace("f(1)", "f(2)"))
    assert code_differences(same, zh.replace('"损失"', '"loss2"'))  # no Chinese: not a translation
    assert code_differences(same, zh.replace("{x:.3f} 奈特", "{x:.2f} 奈特"))  # a format changed
    assert code_differences(same, zh + "\ny = 2")
    assert code_differences('%pip install a', '%pip install b')
    assert code_differences('glue_float("a", 1)', 'glue_float("甲", 1)') == []  # words: allowed...
    # ... but a renamed glue key is caught by the glue test below


# ---------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------
def test_every_page_has_its_chinese_page_in_the_same_place():
    assert ZH_PAGES == EN_PAGES, "book/zh/_toc.yml must list the English pages, in order, without book/"
    for page in EN_PAGES:
        en, zh = _source(page, BOOK), _source(page, ZH)
        assert en.suffix == zh.suffix, page


def test_the_two_configurations_agree():
    """book/zh/_config.yml is the English one with its paths one level down and its
    words in Chinese: no option is missing or added."""
    en = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    zh = yaml.safe_load((ZH / "_config.yml").read_text(encoding="utf-8"))
    language_only = {"language", "html_search_language", "html_search_options"}

    def keys(d, prefix=""):
        out = set()
        for k, v in d.items():
            out.add(prefix + k)
            if isinstance(v, dict):
                out |= keys(v, prefix + k + ".")
        return out

    assert keys(en) ^ keys(zh) == {f"sphinx.config.{k}" for k in language_only} | {
        "sphinx.config.html_search_options.dict", "sphinx.config.edition_build"}
    # every other value is the same, except paths (one level down), words and the pairing
    may_differ = {"title", "author", "exclude_patterns", "bibtex_bibfiles", "html.favicon",
                  "repository.path_to_book", "sphinx.config.html_static_path", "sphinx.config.templates_path",
                  "sphinx.config.ogp_image_alt", "sphinx.config.ogp_site_name", "sphinx.config.ogp_site_url",
                  "sphinx.local_extensions.lean_site", "sphinx.local_extensions.two_editions"}

    def flat(d, prefix=""):
        out = {}
        for k, v in d.items():
            out.update(flat(v, prefix + k + ".") if isinstance(v, dict) else {prefix + k: v})
        return out

    a, b = flat(en), flat(zh)
    differ = {k for k in set(a) & set(b) if a[k] != b[k] and not k.startswith("sphinx.config.edition_")}
    assert differ <= may_differ, f"book/zh/_config.yml differs from _config.yml in {sorted(differ - may_differ)}"
    assert en["sphinx"]["config"]["extensions"] == zh["sphinx"]["config"]["extensions"]
    assert en["execute"] == zh["execute"] and en["parse"] == zh["parse"]
    assert en["repository"]["url"] == zh["repository"]["url"]
    assert zh["repository"]["path_to_book"] == "book/zh"


PAIRS = [(p, _source(p, BOOK), _source(p, ZH)) for p in EN_PAGES]
NOTEBOOKS = [(p, en, zh) for p, en, zh in PAIRS if en.suffix == ".ipynb"]
MARKDOWN = [(p, en, zh) for p, en, zh in PAIRS if en.suffix == ".md"]


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def math_spans(text: str) -> list[str]:
    """Every formula of a Markdown text (inline, display, amsmath), as MyST parses them."""
    found = []

    def walk(tokens):
        for tok in tokens:
            if tok.type.startswith("math") or tok.type == "amsmath":
                found.append(" ".join(tok.content.split()))
            if tok.children:
                walk(tok.children)

    walk(MD.parse(text))
    return found


def _markdown_facts(text: str) -> dict[str, list]:
    """What translation must not change in Markdown."""
    text = text.replace("/book/zh/student/", "/book/student/")  # launch links: each edition's own notebooks
    return {
        "glued numbers": sorted(GLUE.findall(text)),
        "math": sorted(math_spans(text)),
        "link targets": sorted(LINK.findall(text)),
        "directives": sorted(DIRECTIVE.findall(text)),
        "options": sorted(OPTION.findall(text)),
        "targets": sorted(TARGET.findall(text)),
    }


def _facts_differ(en: str, zh: str) -> list[str]:
    a, b = _markdown_facts(en), _markdown_facts(zh)
    return [f"{what}: English {sorted(set(a[what]) - set(b[what]))[:3]}, "
            f"Chinese {sorted(set(b[what]) - set(a[what]))[:3]}"
            for what in a if a[what] != b[what]]


@pytest.mark.parametrize("page,en,zh", NOTEBOOKS, ids=[p for p, _, _ in NOTEBOOKS])
def test_chinese_notebook_runs_the_same_code(page, en, zh):
    a, b = _load(en)["cells"], _load(zh)["cells"]
    assert [c["cell_type"] for c in a] == [c["cell_type"] for c in b], (
        f"book/zh/{page}: the cells differ from the English chapter's (added, removed or moved)")
    problems = []
    for n, (ca, cb) in enumerate(zip(a, b)):
        if ca["metadata"].get("tags", []) != cb["metadata"].get("tags", []):
            problems.append(f"cell {n}: tags {ca['metadata'].get('tags')} != {cb['metadata'].get('tags')}")
        if ca["cell_type"] == "code":
            problems += [f"cell {n}: {p}" for p in code_differences(_text(ca), _text(cb))]
            fig_a = ca["metadata"].get("mystnb", {})
            fig_b = cb["metadata"].get("mystnb", {})
            if bool(fig_a) != bool(fig_b):
                problems.append(f"cell {n}: figure alt text or caption missing in one edition")
        else:
            problems += [f"cell {n}: {p}" for p in _facts_differ(_text(ca), _text(cb))]
    assert not problems, f"book/zh/{page} is out of step with book/{page}:\n" + "\n".join(problems)


def _glued(cells) -> dict[str, object]:
    """Glued name -> its stored value (myst-nb's glue outputs)."""
    found = {}
    for cell in cells:
        for out in cell.get("outputs", []):
            scrap = out.get("metadata", {}).get("scrapbook") or {}
            if "name" in scrap:
                found[scrap["name"]] = {k.removeprefix(scrap.get("mime_prefix", "")): v
                                        for k, v in out.get("data", {}).items()}
    return found


@pytest.mark.parametrize("page,en,zh", NOTEBOOKS, ids=[p for p, _, _ in NOTEBOOKS])
def test_both_editions_glue_the_same_numbers(page, en, zh):
    """The stored outputs (re-run by nbval in both editions) glue the same names with the
    same values; a name the prose quotes is glued."""
    a, b = _load(en)["cells"], _load(zh)["cells"]
    glued_a, glued_b = _glued(a), _glued(b)
    assert glued_a == glued_b, f"book/zh/{page}: glued values differ: " + ", ".join(
        f"{k}: {glued_a.get(k)} vs {glued_b.get(k)}" for k in sorted(set(glued_a) | set(glued_b))
        if glued_a.get(k) != glued_b.get(k))
    quoted = {name for c in b if c["cell_type"] == "markdown" for name, _ in GLUE.findall(_text(c))}
    assert quoted <= set(glued_b), f"book/zh/{page} quotes unglued names: {sorted(quoted - set(glued_b))}"


NUMBER = re.compile(r"[-−]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def computed_numbers(output: str, code: str) -> Counter:
    """The numbers a cell printed, less those its string literals wrote (the label text,
    which a translation may word, and so order, differently)."""
    written = Counter()
    for tok in code_tokens(code):
        if tok[0] == tokenize.STRING:
            written += Counter(NUMBER.findall(re.sub(r"\{[^{}]*\}", " ", tok[1])))
    return Counter(NUMBER.findall(output)) - written


@pytest.mark.parametrize("page,en,zh", NOTEBOOKS, ids=[p for p, _, _ in NOTEBOOKS])
def test_both_editions_print_the_same_numbers_and_draw_the_same_figures(page, en, zh):
    a, b = _load(en)["cells"], _load(zh)["cells"]
    problems = []
    for n, (ca, cb) in enumerate(zip(a, b)):
        if ca["cell_type"] != "code":
            continue
        text_a = "".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
                         for o in ca.get("outputs", []) if "image/svg+xml" not in o.get("data", {})
                         and "image/png" not in o.get("data", {}))
        text_b = "".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
                         for o in cb.get("outputs", []) if "image/svg+xml" not in o.get("data", {})
                         and "image/png" not in o.get("data", {}))
        nums_a = computed_numbers(text_a, _text(ca))
        nums_b = computed_numbers(text_b, _text(cb))
        if nums_a != nums_b:
            problems.append(f"cell {n}: printed numbers differ: English {sorted((nums_a - nums_b).elements())[:5]}, "
                            f"Chinese {sorted((nums_b - nums_a).elements())[:5]}")
        figs_a = sum(1 for o in ca.get("outputs", []) if {"image/svg+xml", "image/png"} & set(o.get("data", {})))
        figs_b = sum(1 for o in cb.get("outputs", []) if {"image/svg+xml", "image/png"} & set(o.get("data", {})))
        if figs_a != figs_b:
            problems.append(f"cell {n}: {figs_a} figures in English, {figs_b} in Chinese")
        if any(o.get("output_type") == "error" or o.get("name") == "stderr" for o in cb.get("outputs", [])):
            problems.append(f"cell {n}: an error or a warning in the Chinese output")
    assert not problems, f"book/zh/{page} (run both: nbval does):\n" + "\n".join(problems)


@pytest.mark.parametrize("page,en,zh", MARKDOWN, ids=[p for p, _, _ in MARKDOWN])
def test_chinese_page_keeps_math_links_and_directives(page, en, zh):
    problems = _facts_differ(en.read_text(encoding="utf-8"), zh.read_text(encoding="utf-8"))
    assert not problems, f"book/zh/{page}.md is out of step:\n" + "\n".join(problems)


@pytest.mark.parametrize("page,en,zh", PAIRS, ids=[p for p, _, _ in PAIRS])
def test_chinese_page_is_written_in_chinese(page, en, zh):
    """Prose, not English left over: most of the page's prose letters are Chinese, and
    every figure has Chinese alt text and caption."""
    if zh.suffix == ".ipynb":
        cells = _load(zh)["cells"]
        prose = "\n".join(_text(c) for c in cells if c["cell_type"] == "markdown")
        for n, c in enumerate(cells):
            meta = c["metadata"].get("mystnb", {})
            for text in (meta.get("image", {}).get("alt"), meta.get("figure", {}).get("caption")):
                assert text is None or CJK.search(text), f"book/zh/{page} cell {n}: alt/caption in English"
    else:
        prose = zh.read_text(encoding="utf-8")
    prose = re.sub(r"```.*?```|`[^`]*`|\$\$.*?\$\$|\$[^$]*\$|\]\([^)]*\)|<[^>]+>", " ", prose, flags=re.S)
    cjk = len(CJK.findall(prose))
    latin = len(re.findall(r"[A-Za-z]", prose))
    assert cjk > 0.4 * (cjk + latin / 4), f"book/zh/{page}: mostly English ({cjk} CJK, {latin} Latin letters)"


def test_the_build_stops_when_no_font_can_draw_the_chinese_figures(monkeypatch):
    """Without a CJK font matplotlib would draw the Chinese labels as empty boxes, and the
    site would publish them: the build stops first, saying what to install."""
    import importlib.util
    from types import SimpleNamespace

    from matplotlib import font_manager
    from sphinx.errors import ExtensionError

    spec = importlib.util.spec_from_file_location("two_editions", BOOK / "_ext" / "two_editions.py")
    two_editions = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(two_editions)
    app = SimpleNamespace(config=SimpleNamespace(language="zh_CN", edition_build=""),
                          builder=SimpleNamespace(format="html"), confdir=str(ZH))
    two_editions._chinese_figures_have_a_font(app)  # this machine has one (CI installs it)
    monkeypatch.setattr(font_manager.fontManager, "ttflist", [])
    with pytest.raises(ExtensionError, match="fonts-noto-cjk"):
        two_editions._chinese_figures_have_a_font(app)
    english = SimpleNamespace(config=SimpleNamespace(language="en", edition_build=""),
                              builder=SimpleNamespace(format="html"), confdir=str(ROOT))
    two_editions._chinese_figures_have_a_font(english)  # English only: no Chinese figures

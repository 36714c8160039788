"""The site as a reader meets it: every page in headless Chromium, with the network closed.

Playwright drives Debian's Chromium (``apt-get install chromium``); Playwright's own
browser download is not used. Without Chromium these tests skip with one line, except
under CI (``CI`` set), where they must run.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    if os.environ.get("CI"):
        pytest.fail("CI must run the browser tests, but chromium is not installed", pytrace=False)
    pytest.skip("Chromium not installed (apt-get install chromium); browser tests skipped", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")

ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "_build" / "screenshots"
KATEX_FONTS = Path(__file__).resolve().parents[1] / "book" / "_ext" / "katex" / "fonts"  # KaTeX's fonts, whole
CHAPTER = "book/01_binary_cross_entropy.html"


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Visit:
    """A page opened with every request outside 127.0.0.1 blocked and recorded."""

    def __init__(self, browser, site_url, path, init_script=None, **context_options):
        self.host = urlparse(site_url).netloc
        self.context = browser.new_context(**context_options)
        if init_script:  # runs before the page's own scripts (e.g. a stored colour theme)
            self.context.add_init_script(init_script)
        self.page = self.context.new_page()
        self.foreign, self.failed, self.errors = [], [], []
        self.context.route("**/*", self._route)
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.url} ({r.failure})"))
        self.page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.url} (HTTP {r.status})"))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(f"script error: {e}"))
        self.page.goto(f"{site_url}/{path}", wait_until="load")
        self.page.wait_for_load_state("networkidle")
        # formulas are typeset at build time (KaTeX); their fonts load with the page
        self.page.evaluate("() => document.fonts.ready.then(() => true)")

    def _route(self, route):
        if urlparse(route.request.url).netloc == self.host or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.foreign.append(route.request.url)
            route.abort()

    def close(self):
        self.context.close()


def _pages(built_site: Path) -> list[str]:
    return sorted(
        str(p.relative_to(built_site))
        for p in built_site.rglob("*.html")
        if not {"_static", "_sources", "_images"} & set(p.parts)
    )


# A formula is rendered when KaTeX's HTML is there and, where the formula is displayed at
# all (not in the print-only table of contents), takes up room on the page.
_UNRENDERED_MATH = """() => [...document.querySelectorAll('.math')]
    .filter(el => { const html = el.querySelector('.katex-html');
                    if (!html) return true;
                    if (el.getClientRects().length === 0) return false;  // inside display: none
                    const box = html.getBoundingClientRect();
                    return box.width < 1 || box.height < 1; })
    .map(el => el.textContent.slice(0, 60))"""
_FONT_ERRORS = """() => [...document.fonts].filter(f => f.status === 'error').map(f => f.family + ' ' + f.weight + ' ' + f.style)"""
# The characters KaTeX draws, keyed by the font face the browser draws them with.
_KATEX_CHARS_BY_FONT = """() => {
    const out = {};
    for (const root of document.querySelectorAll('.katex-html')) {
        const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
        for (let n = walk.nextNode(); n; n = walk.nextNode()) {
            const text = n.textContent.replace(/\\s/g, '');
            if (!text) continue;
            const cs = getComputedStyle(n.parentElement);
            const key = [cs.fontFamily.split(',')[0].replace(/["']/g, '').trim(), cs.fontWeight, cs.fontStyle].join('|');
            out[key] = (out[key] || '') + text;
        }
    }
    return out;
}"""


def _katex_faces(built_site: Path) -> dict[tuple[str, str, str], Path]:
    """(family, weight, style) -> font file, from the @font-face rules the site serves."""
    css = (built_site / "_static" / "site.css").read_text()
    faces = {}
    for block in re.findall(r"@font-face\{([^}]*)\}", css):
        family = re.search(r"font-family:\s*([^;]+)", block).group(1).strip("'\" ")
        weight = re.search(r"font-weight:\s*([^;]+)", block).group(1).strip()
        weight = {"normal": "400", "bold": "700"}.get(weight, weight)
        style = re.search(r"font-style:\s*([^;]+)", block).group(1).strip()
        url = re.search(r"url\(['\"]?([^'\")]+)", block).group(1)
        faces[(family, weight, style)] = built_site / "_static" / url
    return faces


def _assert_fonts_cover(built_site: Path, drawn: dict[str, set[str]]):
    """Every character KaTeX draws is in the (cut-down) font the browser draws it with."""
    ttlib = pytest.importorskip("fontTools.ttLib")
    faces = _katex_faces(built_site)
    assert drawn, "no formula found on the site"
    for key, chars in drawn.items():
        family, weight, style = key.split("|")
        if not family.startswith("KaTeX_"):
            continue  # e.g. Chinese in \text{}: the reader's own fonts
        same = [f for f in faces if f[0] == family]
        assert same, f"no @font-face for {family}"
        face = min([f for f in same if f[2] == style] or same, key=lambda f: abs(int(f[1]) - int(weight)))
        cmap = ttlib.TTFont(faces[face]).getBestCmap()
        # characters KaTeX's own font lacks (the zero-width space of its layout boxes)
        # fall back to the reader's fonts, cut down or not
        full = ttlib.TTFont(KATEX_FONTS / faces[face].name).getBestCmap()
        missing = sorted(c for c in chars if ord(c) in full and ord(c) not in cmap)
        assert missing == [], f"{faces[face].name} lacks {missing}"


def test_every_page_is_clean_offline(browser, site_url, built_site):
    problems: dict[str, list[str]] = {}
    links: set[str] = set()
    drawn: dict[str, set[str]] = {}
    for path in _pages(built_site):
        v = Visit(browser, site_url, path)
        page = v.page
        found = [f"request to another host: {u}" for u in v.foreign]
        found += [f"failed request: {u}" for u in v.failed]
        found += v.errors
        found += [f"formula not rendered: {m}" for m in page.evaluate(_UNRENDERED_MATH)]
        found += [f"a KaTeX font failed to load: {f}" for f in page.evaluate(_FONT_ERRORS)]
        for face, chars in page.evaluate(_KATEX_CHARS_BY_FONT).items():
            drawn.setdefault(face, set()).update(chars)
        # images load lazily: ask for all of them, then check each one
        images = page.evaluate(
            """async () => {
                 const imgs = [...document.querySelectorAll('main img, article img')];
                 imgs.forEach(i => { i.loading = 'eager'; });
                 await Promise.all(imgs.map(i => i.decode().catch(() => null)));
                 return imgs.map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0,
                                        alt: (i.getAttribute('alt') || '').trim()}));
               }"""
        )
        found += [f"image did not load: {i['src']}" for i in images if not i["ok"]]
        found += [f"image without alt text: {i['src']}" for i in images if not i["alt"]]
        levels = page.evaluate(
            "() => [...document.querySelectorAll('article h1, article h2, article h3, article h4, article h5')].map(h => +h.tagName[1])"
        )
        if levels:
            if levels.count(1) != 1 or levels[0] != 1:
                found.append(f"page must have exactly one h1, first: {levels}")
            jumps = [(a, b) for a, b in zip(levels, levels[1:]) if b > a + 1]
            if jumps:
                found.append(f"heading levels skip: {jumps}")
        links |= set(
            page.evaluate(
                "() => [...document.querySelectorAll('a[href]')].map(a => a.href).filter(h => h.startsWith(location.origin))"
            )
        )
        v.close()
        if found:
            problems[path] = found
    assert problems == {}
    _assert_fonts_cover(built_site, drawn)
    _check_internal_links(browser, site_url, links, built_site)


def _check_internal_links(browser, site_url, links, built_site):
    dead = []
    ids_cache: dict[str, set[str]] = {}
    for link in sorted(links):
        url, fragment = urldefrag(link)
        rel = urlparse(url).path.lstrip("/")
        target = built_site / rel
        if target.is_dir():
            target = target / "index.html"
        if not target.exists():
            dead.append(link)
            continue
        if fragment and target.suffix == ".html":
            if rel not in ids_cache:
                ids_cache[rel] = set(re.findall(r'\bid="([^"]+)"', target.read_text(encoding="utf-8")))
            if fragment not in ids_cache[rel]:
                dead.append(link)
    assert dead == [], "internal links that lead nowhere"
    assert any("01_binary_cross_entropy" in link for link in links)


def test_chapter_fits_a_phone_and_the_navigation_opens(browser, site_url):
    v = Visit(browser, site_url, CHAPTER, viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = v.page
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at 390px"
    wide = page.evaluate(
        """() => [...document.querySelectorAll('article img, article .cell_output, article table, article .katex-display')]
             .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1
                           && getComputedStyle(el).overflowX !== 'auto' && getComputedStyle(el.parentElement).overflowX !== 'auto')
             .map(el => el.tagName + '.' + el.className)"""
    )
    assert wide == [], "content wider than the screen without its own scroll"
    nav = page.locator(".bd-sidebar-primary")
    assert not nav.is_visible() or nav.bounding_box()["x"] < 0 or nav.bounding_box()["width"] == 0
    page.locator(".primary-toggle:visible").first.click()
    page.wait_for_timeout(500)
    assert nav.is_visible() and nav.bounding_box()["x"] >= -1, "the navigation did not open"
    assert page.locator(".bd-sidebar-primary a", has_text="Binary cross-entropy").first.is_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "chapter-01-phone.png"))
    assert v.errors == [] and v.foreign == []
    v.close()


_LAYOUT_SHIFT = """() => new Promise(resolve => {
    let total = 0;
    new PerformanceObserver(list => {
        for (const e of list.getEntries()) if (!e.hadRecentInput) total += e.value;
    }).observe({type: 'layout-shift', buffered: true});
    setTimeout(() => resolve(total), 200);
})"""


# A display formula wider than the column must scroll from its start, not lose its left
# end (the theme lays div.math out as a reversed flex row).
_CUT_FORMULAS = """() => [...document.querySelectorAll('div.math')]
    .filter(div => { const k = div.querySelector('.katex-display'); if (!k || !div.getClientRects().length) return false;
                     k.scrollIntoView(); return k.getBoundingClientRect().left < div.getBoundingClientRect().left - 1; })
    .map(div => div.textContent.slice(0, 60))"""


def test_nothing_shifts_or_is_cut_off_on_a_phone(browser, site_url, built_site):
    """Cumulative layout shift of every page on a phone-sized screen, at most 0.1 (images
    carry their size, icons are drawn at build time, formulas come typeset), and no wide
    formula cut off at its start."""
    shifted, cut = {}, {}
    for path in _pages(built_site):
        v = Visit(browser, site_url, path, viewport={"width": 412, "height": 823}, device_scale_factor=1.75,
                  is_mobile=True, has_touch=True)
        cls = v.page.evaluate(_LAYOUT_SHIFT)
        if cls > 0.1:
            shifted[path] = round(cls, 3)
        if v.page.evaluate(_CUT_FORMULAS):
            cut[path] = v.page.evaluate(_CUT_FORMULAS)
        v.close()
    assert shifted == {}
    assert cut == {}, "display formulas cut off at their start"


def test_a_copied_formula_pastes_as_latex(browser, site_url):
    """Copy-paste of math: selecting a typeset formula and copying it gives its LaTeX source
    (KaTeX's copy-tex, reading the TeX kept in each formula's MathML)."""
    v = Visit(browser, site_url, CHAPTER)
    copied = v.page.evaluate(
        """() => {
            const formula = [...document.querySelectorAll('article .math .katex')].find(k => k.getClientRects().length);
            const tex = formula.querySelector('annotation[encoding="application/x-tex"]').textContent;
            getSelection().selectAllChildren(formula);
            const event = new ClipboardEvent('copy', {clipboardData: new DataTransfer(), bubbles: true, cancelable: true});
            formula.dispatchEvent(event);
            return {tex, text: event.clipboardData.getData('text/plain')};
        }"""
    )
    assert copied["tex"].strip() and copied["tex"].strip() in copied["text"], copied
    assert v.errors == []
    v.close()


def test_search_works_offline(browser, site_url):
    v = Visit(browser, site_url, "search.html?q=one-hot")
    page = v.page
    page.wait_for_selector("#search-results li", timeout=20000)
    titles = page.locator("#search-results li a").all_inner_texts()
    assert any("Multi-class" in t or "Binary" in t or "Welcome" in t or "Cross-Entropy" in t for t in titles), titles
    assert v.errors == [] and v.foreign == []
    v.close()


@pytest.mark.parametrize("query,page", [("交叉熵", "01_binary_cross_entropy"), ("焦点损失", "06_distribution_focal_loss")])
def test_chinese_search_works_offline(browser, site_url, query, page):
    v = Visit(browser, site_url, f"zh/search.html?q={query}")
    v.page.wait_for_selector("#search-results li", timeout=20000)
    links = v.page.locator("#search-results li a").evaluate_all("els => els.map(a => a.getAttribute('href'))")
    assert any(page in (href or "") for href in links), links
    assert v.errors == [] and v.foreign == []
    v.close()


def test_the_language_switch_on_a_phone(browser, site_url):
    """Tap 中文 on an English chapter: the same chapter in Chinese; tap English: back."""
    v = Visit(browser, site_url, "book/02_multiclass_one_hot.html", viewport={"width": 360, "height": 740})
    page = v.page
    switch = page.locator("a.lang-switch")
    assert switch.is_visible() and switch.inner_text().strip() == "中文"
    box = switch.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360, "the switch is on the screen"
    switch.click()
    page.wait_for_load_state()
    assert page.url.endswith("/zh/02_multiclass_one_hot.html")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert "独热" in page.title()
    page.locator("a.lang-switch").click()
    page.wait_for_load_state()
    assert page.url.endswith("/book/02_multiclass_one_hot.html")
    assert v.errors == [] and v.foreign == []
    v.close()


def test_screenshot_of_a_chapter(browser, site_url):
    """The screenshot used in the README (copy _build/screenshots/chapter-01.png to book/images/readme-screenshot.png)."""
    v = Visit(browser, site_url, CHAPTER, viewport={"width": 1280, "height": 900})
    v.page.locator("#the-shape-of-log-p, section:has(h2:has-text('The shape'))").first.scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    out = SCREENSHOTS / "chapter-01.png"
    v.page.screenshot(path=str(out))
    assert out.stat().st_size > 20_000  # a rendered page, not a blank one
    v.close()

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
CHAPTER = "book/01_binary_cross_entropy.html"


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Visit:
    """A page opened with every request outside 127.0.0.1 blocked and recorded."""

    def __init__(self, browser, site_url, path, **context_options):
        self.host = urlparse(site_url).netloc
        self.context = browser.new_context(**context_options)
        self.page = self.context.new_page()
        self.foreign, self.failed, self.errors = [], [], []
        self.context.route("**/*", self._route)
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.url} ({r.failure})"))
        self.page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.url} (HTTP {r.status})"))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(f"script error: {e}"))
        self.page.goto(f"{site_url}/{path}", wait_until="load")
        # MathJax loads deferred and typesets asynchronously: on pages with math, wait
        # for it to start, then for its typesetting promise
        if self.page.locator(".math").count():
            self.page.wait_for_function(
                "() => window.MathJax && window.MathJax.startup && window.MathJax.startup.promise", timeout=20000
            )
            self.page.evaluate("() => window.MathJax.startup.promise")
        self.page.wait_for_load_state("networkidle")

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


def test_every_page_is_clean_offline(browser, site_url, built_site):
    problems: dict[str, list[str]] = {}
    links: set[str] = set()
    for path in _pages(built_site):
        v = Visit(browser, site_url, path)
        page = v.page
        found = [f"request to another host: {u}" for u in v.foreign]
        found += [f"failed request: {u}" for u in v.failed]
        found += v.errors
        untypeset = page.evaluate(
            """() => [...document.querySelectorAll('.math')]
                 .filter(el => !el.querySelector('mjx-container') && !el.closest('mjx-container'))
                 .map(el => el.textContent.slice(0, 60))"""
        )
        found += [f"math left untypeset: {m}" for m in untypeset]
        images = page.evaluate(
            """() => [...document.querySelectorAll('main img, article img')]
                 .map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0,
                             alt: (i.getAttribute('alt') || '').trim()}))"""
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
        """() => [...document.querySelectorAll('article img, article .cell_output, article table, article mjx-container[display]')]
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


def test_search_works_offline(browser, site_url):
    v = Visit(browser, site_url, "search.html?q=one-hot")
    page = v.page
    page.wait_for_selector("#search-results li", timeout=20000)
    titles = page.locator("#search-results li a").all_inner_texts()
    assert any("Multi-class" in t or "Binary" in t or "Welcome" in t or "Cross-Entropy" in t for t in titles), titles
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

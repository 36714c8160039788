"""How many bytes does each page of the built site load? Deterministic, no browser, no network.

    python benchmarks/site_weight.py                 # table for _build/html
    python benchmarks/site_weight.py --site DIR      # another built site

A page loads its HTML and every file it references: scripts, style sheets (and what
they ``@import``), preloads, icons, images (``src`` and every ``srcset`` candidate), and,
from each style sheet, every ``url(...)`` it names: images, and, for each ``@font-face``,
the first source a browser would take (the ``woff2``, not the fallbacks). Bytes are
counted as the site is served: text files (HTML, CSS, JavaScript, SVG, JSON) gzipped as
GitHub Pages serves them (:func:`served_size`, the same function the Lighthouse script's
server uses), binary files (PNG, WOFF2) as they are. Every font a style sheet declares
counts, used on the page or not, so the figure is an upper bound of what a browser
fetches; a file fetched by a script at run time would be missed, which is why
``benchmarks/lighthouse.py`` also records the bytes Chromium really transferred.

``tests/test_site.py`` holds every page to :data:`BUDGET` with this code and fails on
any referenced file that does not exist.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import re
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

#: Bytes one page may load, compressed (the issue: "total transfer <= 500 KB").
BUDGET = 500_000
#: Served gzip-compressed (GitHub Pages compresses these; images and fonts are already compressed).
COMPRESSED_SUFFIXES = {".html", ".htm", ".css", ".js", ".mjs", ".json", ".svg", ".xml", ".txt", ".map", ".ico"}
#: zlib's default level, what a typical web server uses.
GZIP_LEVEL = 6


@functools.lru_cache(maxsize=None)
def _served(path: Path, mtime_ns: int) -> int:
    data = path.read_bytes()
    if path.suffix.lower() in COMPRESSED_SUFFIXES:
        return len(gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0))
    return len(data)


def served_size(path: Path) -> int:
    """Bytes on the wire for one file (body only): gzipped if it is text, as it is otherwise."""
    return _served(path, path.stat().st_mtime_ns)


def compress(data: bytes) -> bytes:
    """The compression the Lighthouse script's server applies (same level as :func:`served_size`)."""
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


def site_pages(site: Path) -> list[Path]:
    """Every HTML page of a built site (not the copied sources, static files or images)."""
    return sorted(
        p for p in site.rglob("*.html") if not {"_static", "_sources", "_images"} & set(p.relative_to(site).parts)
    )


class _Refs(HTMLParser):
    """URLs an HTML page makes the browser fetch on load (not links it merely offers)."""

    SRC = {"script": "src", "img": "src", "iframe": "src", "source": "src", "audio": "src", "video": "src",
           "embed": "src", "track": "src", "input": "src"}
    LINK_RELS = {"stylesheet", "preload", "modulepreload", "icon", "shortcut", "apple-touch-icon", "manifest", "prefetch"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self.css_urls: list[str] = []  # url(...) inside <style> blocks and style="" attributes
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in self.SRC and a.get(self.SRC[tag]):
            if not (tag == "input" and (a.get("type") or "").lower() != "image"):
                self.urls.append(a[self.SRC[tag]])
        if tag in ("img", "source") and a.get("srcset"):
            self.urls += [c.strip().split()[0] for c in a["srcset"].split(",") if c.strip()]
        if tag == "video" and a.get("poster"):
            self.urls.append(a["poster"])
        if tag == "object" and a.get("data"):
            self.urls.append(a["data"])
        if tag == "link" and a.get("href") and set((a.get("rel") or "").lower().split()) & self.LINK_RELS:
            self.urls.append(a["href"])
        if a.get("style"):
            self.css_urls += _css_refs(a["style"])
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.css_urls += _css_refs(data)


_FONT_FACE = re.compile(r"@font-face\s*\{([^}]*)\}", re.I)
_SRC = re.compile(r"(?:^|;)\s*src\s*:([^;]*)", re.I)
_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""", re.I)
_IMPORT = re.compile(r"""@import\s+(?:url\(\s*)?(['"])([^'"]+)\1""", re.I)


def _css_refs(css: str) -> list[str]:
    """Files a style sheet makes the browser fetch: @imports, url()s, and of each
    @font-face only its first source (the browser takes the first format it supports)."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    refs = [m.group(2) for m in _IMPORT.finditer(css)]
    for face in _FONT_FACE.finditer(css):
        for src in _SRC.finditer(face.group(1)):
            first = _URL.search(src.group(1))
            if first:
                refs.append(first.group(2))
    rest = _FONT_FACE.sub("", _IMPORT.sub("", css))
    refs += [m.group(2) for m in _URL.finditer(rest)]
    return [r for r in refs if not r.startswith(("data:", "#"))]


def _resolve(site: Path, base: PurePosixPath, url: str) -> Path | str | None:
    """A site file for a URL found in the file at ``base`` (site-relative); the URL itself
    if it names another host; None for URLs that load nothing (data:, fragments)."""
    if url.startswith(("data:", "blob:", "#", "javascript:", "mailto:", "about:")):
        return None
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return url
    path = unquote(parts.path)
    if not path:
        return None
    target = PurePosixPath(path.lstrip("/")) if path.startswith("/") else base.parent / path
    resolved = []
    for part in target.parts:
        if part == "..":
            if resolved:
                resolved.pop()
        elif part != ".":
            resolved.append(part)
    return site.joinpath(*resolved)


@dataclass
class PageWeight:
    page: str
    files: dict[str, int] = field(default_factory=dict)  # site-relative path -> served bytes
    missing: list[str] = field(default_factory=list)  # "referencing file -> URL"
    foreign: list[str] = field(default_factory=list)  # URLs on other hosts

    @property
    def total(self) -> int:
        return sum(self.files.values())

    def by_kind(self) -> dict[str, int]:
        kinds = {"html": (".html",), "css": (".css",), "js": (".js", ".mjs"), "font": (".woff2", ".woff", ".ttf", ".otf"),
                 "image": (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".avif", ".ico")}
        out = {k: 0 for k in kinds} | {"other": 0}
        for name, size in self.files.items():
            kind = next((k for k, sfx in kinds.items() if name.lower().endswith(sfx)), "other")
            out[kind] += size
        return out


def page_weight(site: Path, page: Path) -> PageWeight:
    """Everything ``page`` loads, with the bytes each file costs on the wire."""
    site = site.resolve()
    page = page.resolve()
    rel = page.relative_to(site).as_posix()
    weight = PageWeight(rel)
    weight.files[rel] = served_size(page)
    parser = _Refs()
    parser.feed(page.read_text(encoding="utf-8"))
    queue = [(rel, u, False) for u in parser.urls] + [(rel, u, True) for u in parser.css_urls]
    seen: set[Path] = {page}
    while queue:
        origin, url, _ = queue.pop(0)
        target = _resolve(site, PurePosixPath(origin), url)
        if target is None:
            continue
        if isinstance(target, str):
            weight.foreign.append(target)
            continue
        if target in seen:
            continue
        seen.add(target)
        if not target.is_file():
            weight.missing.append(f"{origin} -> {url}")
            continue
        name = target.relative_to(site).as_posix()
        weight.files[name] = served_size(target)
        if target.suffix.lower() == ".css":
            queue += [(name, u, True) for u in _css_refs(target.read_text(encoding="utf-8", errors="replace"))]
    return weight


def site_weights(site: Path) -> list[PageWeight]:
    return [page_weight(site, p) for p in site_pages(site)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", type=Path, default=Path(__file__).resolve().parents[1] / "_build" / "html")
    ap.add_argument("--files", action="store_true", help="list every file each page loads")
    args = ap.parse_args(argv)
    weights = site_weights(args.site)
    print(f"{'page':<44} {'total KB':>9} {'html':>7} {'css':>7} {'js':>7} {'font':>7} {'image':>7}  files")
    bad = 0
    for w in weights:
        k = w.by_kind()
        print(f"{w.page:<44} {w.total / 1000:9.1f} {k['html'] / 1000:7.1f} {k['css'] / 1000:7.1f} {k['js'] / 1000:7.1f} "
              f"{k['font'] / 1000:7.1f} {k['image'] / 1000:7.1f}  {len(w.files)}")
        if args.files:
            for name, size in sorted(w.files.items(), key=lambda kv: -kv[1]):
                print(f"{'':4}{size / 1000:8.1f}  {name}")
        for m in w.missing:
            print(f"    MISSING {m}")
        for f in w.foreign:
            print(f"    OTHER HOST {f}")
        bad += bool(w.missing or w.foreign or w.total > BUDGET)
    static = args.site / "_static"
    size = sum(f.stat().st_size for f in static.rglob("*") if f.is_file())
    print(f"_static: {size / 1e6:.2f} MB in {sum(1 for f in static.rglob('*') if f.is_file())} files; budget {BUDGET / 1000:.0f} KB a page")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

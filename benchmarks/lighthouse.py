"""The built site in Lighthouse, page by page, served gzip-compressed as GitHub Pages serves it.

    python benchmarks/lighthouse.py                       # every page, 3 runs each, a table
    python benchmarks/lighthouse.py --runs 5 --json benchmarks/lighthouse.json   # what the performance page reads
    python benchmarks/lighthouse.py --pages book/01_binary_cross_entropy.html --runs 1
    python benchmarks/lighthouse.py --check               # exit 1 if a page misses a threshold

What it does:

1. Installs Lighthouse 12 from the npm registry into ``benchmarks/.lighthouse`` (git
   ignores it) the first time, with ``npm``; Lighthouse 13 needs Node 22, this machine
   has Node 20. Chromium comes from Debian (``apt-get install chromium``; the script runs
   that itself when it is root and Chromium is missing).
2. Serves the built site (``_build/html``, build it first) on 127.0.0.1 from a small
   HTTP/1.1 server that gzips text files when the browser asks for it, as GitHub Pages
   does (``http.server`` alone does not compress, and the figures would be 2-3x too heavy).
3. Runs Lighthouse with its defaults, the mobile run: a mid-range phone's screen and CPU
   (4x slowdown), simulated slow 4G (150 ms, 1.6 Mbit/s), on every page of the site
   (every ``.html`` outside ``_static``, ``_sources`` and ``_images``), ``--runs`` times
   each, pages interleaved so that a slow moment of the machine does not hit one page's
   runs only. Chromium runs headless with its background networking off: nothing leaves
   the machine.
4. Writes the median of each number over the runs (scores, LCP, FCP, TBT, CLS, Speed
   Index, bytes transferred) to ``--json``, with every run's numbers, the failing audits
   and the machine's description, and prints a table.

Scores are noisy on a shared 2-core machine (performance more than any other: the
simulated CPU time is the observed time times four); the medians are what to compare.
The bytes are exact: ``tests/test_site.py`` checks them on every build without a
browser (``benchmarks/site_weight.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.server
import json
import mimetypes
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import site_weight

LIGHTHOUSE_DIR = HERE / ".lighthouse"
LIGHTHOUSE_VERSION = "12"
CATEGORIES = ["performance", "accessibility", "best-practices", "seo"]
#: The issue's thresholds: scores out of 100, LCP in ms, bytes compressed.
THRESHOLDS = {"performance": 90, "accessibility": 100, "best-practices": 100, "seo": 100}
MAX_LCP_MS = 2500
MAX_BYTES = site_weight.BUDGET
CHROME_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
]
METRICS = {
    "lcp ms": "largest-contentful-paint",
    "fcp ms": "first-contentful-paint",
    "tbt ms": "total-blocking-time",
    "cls": "cumulative-layout-shift",
    "si ms": "speed-index",
    "bytes": "total-byte-weight",
}


# ---------------------------------------------------------------------------------------
# The server: static files, gzip for text, HTTP/1.1 keep-alive
# ---------------------------------------------------------------------------------------
class GzipHandler(http.server.BaseHTTPRequestHandler):
    """Serve ``directory`` as GitHub Pages does: gzip for text files, 404 for what is missing."""

    protocol_version = "HTTP/1.1"
    directory: Path
    _cache: dict[Path, tuple[bytes, bytes | None]] = {}
    _lock = threading.Lock()

    def log_message(self, *args):
        pass

    def _body(self, path: Path) -> tuple[bytes, bytes | None]:
        with self._lock:
            if path not in self._cache:
                raw = path.read_bytes()
                gz = site_weight.compress(raw) if path.suffix.lower() in site_weight.COMPRESSED_SUFFIXES else None
                self._cache[path] = (raw, gz)
            return self._cache[path]

    def _send(self, head_only: bool):
        rel = unquote(urlsplit(self.path).path).lstrip("/")
        path = (self.directory / rel).resolve()
        if path.is_dir():
            path = path / "index.html"
        if self.directory not in path.parents and path != self.directory or not path.is_file():
            body = b"<!DOCTYPE html><title>404</title><p>Not found</p>"
            self.send_response(404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head_only:
                self.wfile.write(body)
            return
        raw, gz = self._body(path)
        use_gz = gz is not None and "gzip" in self.headers.get("Accept-Encoding", "")
        body = gz if use_gz else raw
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/javascript", "application/json", "image/svg+xml"):
            ctype += "; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=600")  # what GitHub Pages sends
        if gz is not None:
            self.send_header("Vary", "Accept-Encoding")
        if use_gz:
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def do_GET(self):
        self._send(head_only=False)

    def do_HEAD(self):
        self._send(head_only=True)


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    mimetypes.add_type("font/woff2", ".woff2")
    mimetypes.add_type("text/javascript", ".js")
    mimetypes.add_type("image/svg+xml", ".svg")
    handler = type("SiteHandler", (GzipHandler,), {"directory": site.resolve(), "_cache": {}})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# ---------------------------------------------------------------------------------------
# Tools: Lighthouse from npm, Chromium from apt
# ---------------------------------------------------------------------------------------
def lighthouse_cli() -> Path:
    cli = LIGHTHOUSE_DIR / "node_modules" / "lighthouse" / "cli" / "index.js"
    if not cli.exists():
        if not shutil.which("npm"):
            sys.exit("npm not found: install Node.js 20 (apt-get install nodejs npm)")
        LIGHTHOUSE_DIR.mkdir(exist_ok=True)
        print(f"installing lighthouse@{LIGHTHOUSE_VERSION} into {LIGHTHOUSE_DIR} ...", flush=True)
        subprocess.run(["npm", "install", "--prefix", str(LIGHTHOUSE_DIR), "--no-audit", "--no-fund",
                        "--loglevel=error", f"lighthouse@{LIGHTHOUSE_VERSION}"], check=True)
    return cli


def chromium() -> str:
    found = os.environ.get("CHROME_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing chromium from apt ...", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"], check=True, env=env)
        return shutil.which("chromium")
    sys.exit("Chromium not found: apt-get install chromium (or set CHROME_PATH)")


def _version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


# ---------------------------------------------------------------------------------------
# One Lighthouse run, summarised
# ---------------------------------------------------------------------------------------
def run_once(cli: Path, chrome: str, url: str, workdir: Path, keep: Path | None = None) -> dict:
    out = workdir / "report.json"
    out.unlink(missing_ok=True)
    cmd = ["node", str(cli), url, "--output=json", f"--output-path={out}", "--quiet",
           f"--only-categories={','.join(CATEGORIES)}", f"--chrome-flags={' '.join(CHROME_FLAGS)}"]
    proc = subprocess.run(cmd, env=dict(os.environ, CHROME_PATH=chrome), capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"lighthouse failed on {url}:\n{proc.stderr[-3000:]}")
    report = json.loads(out.read_text())
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        name = urlsplit(url).path.strip("/").replace("/", "_") or "index"
        n = len(list(keep.glob(f"{name}.*.json")))
        shutil.copy2(out, keep / f"{name}.{n + 1}.json")
    if report.get("runtimeError"):
        raise RuntimeError(f"lighthouse: {report['runtimeError']}")
    audits = report["audits"]
    run = {c: round(100 * report["categories"][c]["score"]) if report["categories"][c]["score"] is not None else None
           for c in CATEGORIES}
    for key, audit in METRICS.items():
        value = audits[audit].get("numericValue")
        run[key] = round(value, 3) if key == "cls" else round(value) if value is not None else None
    failing = []
    for c in CATEGORIES:
        for ref in report["categories"][c]["auditRefs"]:
            a = audits[ref["id"]]
            if (c != "performance" and a.get("score") is not None and a["score"] < 1
                    and a.get("scoreDisplayMode") in ("binary", "numeric")):
                failing.append(f"{c}: {ref['id']}")
    run["failing"] = failing
    run["lcp element"] = _lcp_element(audits)
    run["requests"] = len(audits.get("network-requests", {}).get("details", {}).get("items", []))
    return run


def _lcp_element(audits: dict) -> str | None:
    items = audits.get("largest-contentful-paint-element", {}).get("details", {}).get("items", [])
    for item in items:
        for sub in item.get("items", [item]):
            node = sub.get("node")
            if node:
                return node.get("selector") or node.get("nodeLabel")
    return None


def summarise(runs: list[dict]) -> dict:
    med = {}
    for key in [*CATEGORIES, *METRICS]:
        values = [r[key] for r in runs if r.get(key) is not None]
        med[key] = statistics.median(values) if values else None
        if key == "cls" and med[key] is not None:
            med[key] = round(med[key], 3)
    med["failing"] = sorted({f for r in runs for f in r["failing"]})
    return med


def passes(med: dict, static_bytes: int) -> list[str]:
    problems = [f"{c} {med[c]} < {t}" for c, t in THRESHOLDS.items() if med[c] is None or med[c] < t]
    if med["lcp ms"] is None or med["lcp ms"] > MAX_LCP_MS:
        problems.append(f"LCP {med['lcp ms']} ms > {MAX_LCP_MS}")
    if max(med["bytes"] or 0, static_bytes) > MAX_BYTES:
        problems.append(f"bytes {max(med['bytes'] or 0, static_bytes)} > {MAX_BYTES}")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", type=Path, default=ROOT / "_build" / "html", help="the built site (default _build/html)")
    ap.add_argument("--runs", type=int, default=3, help="Lighthouse runs per page; the medians are reported")
    ap.add_argument("--pages", nargs="*", help="site-relative pages (default: every page)")
    ap.add_argument("--json", type=Path, help="write the results here (e.g. benchmarks/lighthouse.json)")
    ap.add_argument("--check", action="store_true", help="exit 1 if a page misses a threshold")
    ap.add_argument("--reports", type=Path, help="keep every Lighthouse report (JSON) in this folder")
    args = ap.parse_args(argv)

    site = args.site.resolve()
    if not (site / "_static").is_dir():
        sys.exit(f"no built site at {site}: run `jupyter-book build . -W -n --keep-going` first")
    pages = args.pages or [p.relative_to(site).as_posix() for p in site_weight.site_pages(site)]
    cli, chrome = lighthouse_cli(), chromium()
    server, base = serve(site)
    runs: dict[str, list[dict]] = {p: [] for p in pages}
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="lighthouse-") as tmp:
            for i in range(args.runs):
                for page in pages:  # interleaved: run i of every page, then run i + 1
                    run = run_once(cli, chrome, f"{base}/{page}", Path(tmp), args.reports)
                    runs[page].append(run)
                    print(f"run {i + 1}/{args.runs} {page:<42} perf {run['performance']:>3} a11y {run['accessibility']:>3} "
                          f"bp {run['best-practices']:>3} seo {run['seo']:>3}  LCP {run['lcp ms'] / 1000:4.1f} s  "
                          f"TBT {run['tbt ms']:>4} ms  CLS {run['cls']:.3f}  {run['bytes'] / 1000:6.1f} KB"
                          + (f"  failing: {', '.join(run['failing'])}" if run["failing"] else ""), flush=True)
    finally:
        server.shutdown()

    results = []
    bad = 0
    print(f"\n{'page':<42} {'perf':>4} {'a11y':>4} {'bp':>4} {'seo':>4} {'LCP s':>6} {'FCP s':>6} {'TBT ms':>6} "
          f"{'CLS':>6} {'KB (LH)':>8} {'KB (files)':>10}")
    for page in pages:
        med = summarise(runs[page])
        static = site_weight.page_weight(site, site / page).total
        problems = passes(med, static)
        bad += bool(problems)
        results.append({"page": page, "median": med, "static bytes": static, "problems": problems, "runs": runs[page]})
        print(f"{page:<42} {med['performance']:>4.0f} {med['accessibility']:>4.0f} {med['best-practices']:>4.0f} "
              f"{med['seo']:>4.0f} {med['lcp ms'] / 1000:6.2f} {med['fcp ms'] / 1000:6.2f} {med['tbt ms']:>6.0f} "
              f"{med['cls']:6.3f} {med['bytes'] / 1000:8.1f} {static / 1000:10.1f}" + (f"  <- {'; '.join(problems)}" if problems else ""))
        for f in med["failing"]:
            print(f"{'':4}failing audit: {f}")
    elapsed = time.monotonic() - started
    print(f"\n{len(pages)} pages x {args.runs} runs in {elapsed / 60:.1f} min; {bad} page(s) miss a threshold")

    if args.json:
        lh_pkg = json.loads((LIGHTHOUSE_DIR / "node_modules" / "lighthouse" / "package.json").read_text())
        doc = {
            "what": "Lighthouse mobile defaults (simulated slow 4G, 4x CPU slowdown) on every page of the built site, "
                    "served gzip-compressed; medians over the runs",
            "date": dt.date.today().isoformat(),
            "lighthouse": lh_pkg["version"],
            "chromium": _version([chrome, "--version"]),
            "node": _version(["node", "--version"]),
            "machine": {"cpu count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
            "runs per page": args.runs,
            "static folder bytes": sum(f.stat().st_size for f in (site / "_static").rglob("*") if f.is_file()),
            "thresholds": {**THRESHOLDS, "lcp ms": MAX_LCP_MS, "bytes": MAX_BYTES},
            "pages": results,
        }
        args.json.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 1 if (bad and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())

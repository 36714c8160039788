"""two_editions: one site, two editions (English at the root, 简体中文 under ``zh/``).

The Chinese edition is its own Jupyter Book project, ``book/zh/`` (``_config.yml``,
``_toc.yml``), whose pages mirror the English ones path for path::

    book/01_binary_cross_entropy.ipynb   ->  book/zh/01_binary_cross_entropy.ipynb
    /book/01_binary_cross_entropy.html   <->  /zh/01_binary_cross_entropy.html

A separate Sphinx project, because Sphinx has one language per project: the language
sets ``<html lang>``, the theme's words, and the search's word splitter (jieba for
Chinese). This extension, loaded by both projects, does three things:

1. **The language switch.** Every page gets a link to the same page in the other edition
   (``lang-switch.html`` in the article header, before the theme's buttons) and an
   ``<link rel="alternate" hreflang>`` pair in its head (absolute addresses, from
   ``ogp_site_url``, as search engines require).
2. **One command builds both.** In the English build (``edition_build`` set to the other
   project's folder), once the English pages are written, the Chinese build runs as a
   subprocess (``jupyter-book build book/zh -W -n --keep-going``, output in
   ``_build/zh``) and its pages are copied into ``<outdir>/zh``. A Chinese build error
   fails the English build, with the end of the Chinese log. (One after the other, not
   side by side: sphinxcontrib-katex connects to its KaTeX server as soon as the socket
   file appears, and on a busy machine the server is not listening yet.)
3. **Chinese figures need a CJK font** (matplotlib draws boxes without one): the build
   stops at once, saying what to install, when none is found.
4. **Chinese search**: a relative ``html_search_options["dict"]`` (jieba's user
   dictionary of the course's terms, so that 交叉熵 is one word) is resolved against the
   project's folder, whatever the working directory.

Configuration (``sphinx: config:`` in each ``_config.yml``)::

    edition_lang: en                # this edition's language (BCP 47)
    edition_other_lang: zh-CN
    edition_other_label: 中文        # the switch's visible text, in the other language
    edition_other_root: zh/         # the other edition's root, from this site's root
    edition_docname_from: "book/"   # docname prefix here ...
    edition_docname_to: ""          # ... and in the other edition
    edition_build: book/zh          # English only: the project to build into <outdir>/zh

``CE_ONE_EDITION=1`` in the environment skips the Chinese build (a quick English-only
build while writing; CI and the README's command always build both).
"""

from __future__ import annotations

import os
import posixpath
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urljoin

from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

SUBFOLDER = "zh"  # where the built other edition goes inside the English site


def other_docname(docname: str, config) -> str:
    """The same page's docname in the other edition (``book/01_x`` <-> ``01_x``).

    Pages Sphinx generates (search, genindex) have the same name in both.
    """
    here, there = config.edition_docname_from, config.edition_docname_to
    if here and docname.startswith(here):
        return there + docname[len(here):]
    if not here and docname not in ("search", "genindex"):
        return there + docname
    return docname


def switch_url(pagename: str, config) -> str:
    """Relative URL from ``pagename``'s HTML file to its counterpart in the other edition."""
    up = "../" * pagename.count("/")
    target = posixpath.normpath(config.edition_other_root + other_docname(pagename, config) + ".html")
    return up + target


def _page_context(app, pagename, templatename, context, doctree):
    config = app.config
    if not config.edition_other_root:
        return
    url = switch_url(pagename, config)
    context["edition_switch"] = {
        "url": url,
        "lang": config.edition_other_lang,
        "label": config.edition_other_label,
        "title": config.edition_other_title,
    }
    site = getattr(config, "ogp_site_url", "") or config.html_baseurl
    if site:  # search engines (and Lighthouse's hreflang audit) want absolute addresses
        here = urljoin(site, f"{pagename}.html")
        there = urljoin(site, posixpath.normpath(config.edition_other_root + other_docname(pagename, config)) + ".html")
        context["metatags"] = context.get("metatags", "") + (
            f'\n<link rel="alternate" hreflang="{config.edition_lang}" href="{here}" />'
            f'\n<link rel="alternate" hreflang="{config.edition_other_lang}" href="{there}" />'
        )


def _resolve_search_dict(app, config):
    options = dict(config.html_search_options or {})
    path = options.get("dict")
    if path and not os.path.isabs(path):
        options["dict"] = str((Path(app.confdir) / path).resolve())
        if not Path(options["dict"]).is_file():
            raise ExtensionError(f"html_search_options dict not found: {options['dict']}")
        config.html_search_options = options


def _chinese_figures_have_a_font(app):
    """The Chinese edition's figures draw Chinese text: without a CJK font matplotlib draws
    empty boxes and the site would publish them. Fail at once, saying what to install,
    in the Chinese build and in the English one that will start it."""
    chinese = (app.config.language or "").startswith("zh")
    if not chinese and _other_project(app) is None:
        return
    try:
        from coursekit.setup import CJK_FONTS
        from matplotlib import font_manager
    except ImportError:
        return
    installed = {f.name for f in font_manager.fontManager.ttflist}
    if not installed & set(CJK_FONTS):
        raise ExtensionError(
            "the Chinese edition's figures need a CJK font, and matplotlib finds none of "
            f"{', '.join(CJK_FONTS)}. On Debian or Ubuntu: apt-get install fonts-noto-cjk "
            "(then remove matplotlib's font cache, ~/.cache/matplotlib, if it predates the font). "
            "To build only the English edition: CE_ONE_EDITION=1.")


def _other_project(app) -> Path | None:
    folder = app.config.edition_build
    if not folder or os.environ.get("CE_ONE_EDITION") or app.builder.format != "html":
        return None
    return (Path(app.confdir) / folder).resolve()


def _start_other(app):
    project = _other_project(app)
    if project is None:
        return None
    out = Path(app.outdir).resolve().parent / SUBFOLDER  # _build/html -> _build/zh
    log = out.with_suffix(".log")
    out.mkdir(parents=True, exist_ok=True)
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(project),
           "--path-output", str(out), "-W", "-n", "--keep-going"]
    logger.info(f"[two_editions] building the other edition: {' '.join(cmd)} (log: {log})")
    handle = log.open("w", encoding="utf-8")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return (subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, cwd=app.confdir, env=env),
            handle, out / "_build" / "html", log, time.monotonic())


def _build_other(app, exception):
    if exception is not None:
        return
    run = _start_other(app)
    if run is None:
        return
    proc, handle, html_dir, log, started = run
    code = proc.wait()
    handle.close()
    if code != 0:
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-60:])
        raise ExtensionError(f"the other edition's build failed (exit {code}); end of {log}:\n{tail}")
    target = Path(app.outdir) / SUBFOLDER
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(html_dir, target)
    logger.info(f"[two_editions] other edition built in {time.monotonic() - started:.0f} s, copied to {target}")


def setup(app):
    app.add_config_value("edition_lang", "en", "html")
    app.add_config_value("edition_other_lang", "", "html")
    app.add_config_value("edition_other_label", "", "html")
    app.add_config_value("edition_other_title", "", "html")
    app.add_config_value("edition_other_root", "", "html")
    app.add_config_value("edition_docname_from", "", "html")
    app.add_config_value("edition_docname_to", "", "html")
    app.add_config_value("edition_build", "", "html")
    app.connect("config-inited", _resolve_search_dict)
    app.connect("builder-inited", _chinese_figures_have_a_font)
    app.connect("html-page-context", _page_context)
    # after lean_site (900), which must not see the other edition's pages
    app.connect("build-finished", _build_other, priority=950)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}

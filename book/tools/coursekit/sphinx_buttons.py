"""Sphinx extension: a chapter's launch and download buttons offer its student notebook.

The theme (sphinx-book-theme) builds the rocket menu (Binder, Colab) and the download
menu from the page's own notebook, the chapter with its solutions. For every page
``book/NN_name`` that has a student notebook ``book/student/NN_name.ipynb`` (written by
``python -m coursekit.editions``), this extension

- points *Binder* and *Colab* at the student notebook, and keeps the chapter itself as
  *Binder, with solutions* and *Colab, with solutions* (for the instructor's projector);
- puts the student notebook first in the download menu, and names the chapter's own
  ``.ipynb`` (``_sources/...``) "with solutions";
- copies the student notebooks into the built site, beside the pages.

In _config.yml: ``sphinx: config: extensions: [..., coursekit.sphinx_buttons]``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

STUDENT = "student"

# what the buttons say, in each edition's language (Sphinx's ``language``)
WORDS = {
    "en": {
        "open_student": "Open the student notebook on {service} (exercises with checks, no solutions)",
        "with_solutions": "{service}, with solutions",
        "open_chapter": "Open the chapter itself on {service}, solutions included",
        "own_ipynb": ".ipynb, with solutions",
        "own_tooltip": "Download the chapter's notebook, solutions included",
        "student_ipynb": ".ipynb (student)",
        "student_tooltip": "Download the student notebook: exercises with checks, no solutions",
    },
    "zh": {
        "open_student": "在 {service} 上打开学生笔记本（练习附自动检查，不含解答）",
        "with_solutions": "{service}（含解答）",
        "open_chapter": "在 {service} 上打开本章本身，含解答",
        "own_ipynb": ".ipynb（含解答）",
        "own_tooltip": "下载本章的笔记本，含解答",
        "student_ipynb": ".ipynb（学生版）",
        "student_tooltip": "下载学生笔记本：练习附自动检查，不含解答",
    },
}


def _words(app) -> dict[str, str]:
    return WORDS["zh" if (app.config.language or "en").startswith("zh") else "en"]


def student_notebook(docname: str) -> str:
    """``book/01_x`` -> ``book/student/01_x.ipynb`` (a path relative to the source folder)."""
    page = Path(docname)
    return (page.parent / STUDENT / f"{page.name}.ipynb").as_posix()


def _has_student_notebook(app, docname: str) -> bool:
    return (Path(app.srcdir) / student_notebook(docname)).is_file()


def _buttons(app, pagename, templatename, context, doctree):
    if not _has_student_notebook(app, pagename):
        return
    student = student_notebook(pagename)
    own = f"{pagename}.ipynb"
    words = _words(app)
    for group in context.get("header_buttons") or []:
        if group.get("label") == "launch-buttons":
            first, with_solutions = [], []
            for button in group["buttons"]:
                url = button.get("url", "")
                if button.get("text") in ("Binder", "Colab") and url.endswith(own):
                    service = button["text"]
                    first.append({**button, "url": url[: -len(own)] + student,
                                  "tooltip": words["open_student"].format(service=service)})
                    with_solutions.append({**button, "text": words["with_solutions"].format(service=service),
                                           "tooltip": words["open_chapter"].format(service=service),
                                           "label": f"launch-{service.lower()}-with-solutions"})
                else:
                    first.append(button)
            group["buttons"] = first + with_solutions
        elif group.get("label") == "download-buttons":
            for button in group["buttons"]:
                if button.get("text") == ".ipynb":  # the page's own notebook (_sources/...)
                    button["text"] = words["own_ipynb"]
                    button["tooltip"] = words["own_tooltip"]
            group["buttons"].insert(0, {
                "type": "link",
                "url": context["pathto"](student, 1),
                "text": words["student_ipynb"],
                "icon": "fas fa-code",
                "tooltip": words["student_tooltip"],
                "label": "download-student-notebook-button",
            })


def _copy_student_notebooks(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for docname in sorted(app.env.found_docs):
        if _has_student_notebook(app, docname):
            target = Path(app.outdir) / student_notebook(docname)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(app.srcdir) / student_notebook(docname), target)


def setup(app):
    # after sphinx-book-theme's own handlers (priority 501), which build the buttons
    app.connect("html-page-context", _buttons, priority=600)
    app.connect("build-finished", _copy_student_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

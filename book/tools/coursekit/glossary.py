"""Write the glossary page of both editions from one list of terms.

    python -m coursekit.glossary            # writes book/appendix/glossary.md and book/zh/appendix/glossary.md
    python -m coursekit.glossary --check    # exit 1 if either page is out of step with book/glossary.yml

``book/glossary.yml`` lists each term's English and Chinese names and the label of the
section that teaches it (``(label)=`` above that section's heading, in both editions).
The pages link each term there with ``{ref}``, so the link text is the section's own
title, in the page's language.
"""

from __future__ import annotations

import argparse
import json
import posixpath
import re
import sys
from pathlib import Path

import yaml

from .editions import find_root

DATA = Path("book") / "glossary.yml"
PAGES = {"en": Path("book") / "appendix" / "glossary.md", "zh": Path("book") / "zh" / "appendix" / "glossary.md"}

INTRO = {
    "en": ("# Glossary · 术语表\n\n"
           "The terms of the course with their Chinese names, in the order the course teaches them. "
           "Each links to the page and the section that teach it; the Chinese edition (中文, at the top "
           "of the page) has the same list.\n"),
    "zh": ("# 术语表 · Glossary\n\n"
           "本课程的术语及其英文名称，按课程讲授的先后排列。每个术语都链接到讲授它的小节；"
           "英文版的术语表与本页是同一份列表。\n"),
}
HEADER = {"en": "| English | 中文 | taught in |\n|---|---|---|", "zh": "| 中文 | English | 讲授于 |\n|---|---|---|"}


def terms(root: Path) -> list[dict]:
    data = yaml.safe_load((root / DATA).read_text(encoding="utf-8"))
    for term in data:
        missing = {"en", "zh", "taught"} - set(term)
        if missing:
            raise ValueError(f"{DATA}: {term} lacks {sorted(missing)}")
    return data


def where(root: Path) -> dict[str, str]:
    """Label -> (the page that carries it, as a path from the glossary page (``../01_x``),
    whether it labels the page's title)."""
    found = {}
    for path in sorted((root / "book").glob("**/*.ipynb")):
        if {"student", "zh", ".ipynb_checkpoints"} & set(path.relative_to(root / "book").parts):
            continue
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        for label, level in re.findall(r"^\(([\w-]+)\)=\s*\n(#+) ", text, re.M):
            doc = posixpath.relpath(path.relative_to(root / "book").with_suffix("").as_posix(), "appendix")
            found[label] = (doc, level == "#")  # the page's own title: the page is the link
    return found


def page(root: Path, lang: str) -> str:
    rows = []
    pages = where(root)
    for term in terms(root):
        first, second = (term["en"], term["zh"]) if lang == "en" else (term["zh"], term["en"])
        label = term["taught"]
        if label not in pages:
            raise ValueError(f"{DATA}: {term['en']!r} is taught at {label!r}, a label no chapter has")
        doc, whole_page = pages[label]
        link = f"{{doc}}`{doc}`" + ("" if whole_page else f" › {{ref}}`{label}`")
        rows.append(f"| {first} | {second} | {link} |")
    note = "<!-- written by python -m coursekit.glossary from book/glossary.yml: edit that file, not this one -->"
    return f"{note}\n{INTRO[lang]}\n{HEADER[lang]}\n" + "\n".join(rows) + "\n"


def out_of_step(root: Path) -> list[str]:
    return [str(path) for lang, path in PAGES.items()
            if not (root / path).is_file() or (root / path).read_text(encoding="utf-8") != page(root, lang)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coursekit.glossary", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report whether the pages are in step")
    args = parser.parse_args(argv)
    root = find_root()
    if args.check:
        stale = out_of_step(root)
        for path in stale:
            print(f"out of step: {path} (regenerate with: python -m coursekit.glossary)")
        return 1 if stale else 0
    for lang, path in PAGES.items():
        (root / path).write_text(page(root, lang), encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Write the student edition of the chapters, and an answer key.

    python -m coursekit.editions                 # writes book/student/, book/zh/student/ and _build/answer-key/
    python -m coursekit.editions --check         # exit 1 if book/student/ or book/zh/student/ is out of step

Run it from the repository (any folder inside it). The chapters ``book/NN_*.ipynb`` are
the source: the website renders their MyST (glued numbers, exercise and solution
directives, admonitions, citations). Jupyter and Colab do not, so both editions are
plain Markdown that reads the same everywhere:

- every ``{glue:text}`` role becomes the number the chapter glued, formatted as on the
  website, read from the chapter's stored outputs (which nbval checks);
- exercises become headings ("Exercise 3.2 (title)", numbered as on the website),
  admonitions become quotes, citations become "(Author et al., year)", links to pages
  that are not notebooks of the edition go to the website, and each figure gets its
  caption below it;
- code cells are the chapter's, without outputs, so a student runs them; the cells that
  compute numbers for the solutions (tagged ``solution``) are dropped.

Both editions of the course get theirs: the English chapters ``book/NN_*.ipynb`` give
``book/student/``, the Chinese ones ``book/zh/NN_*.ipynb`` give ``book/zh/student/``
(exercise headings, banners and admonition titles in Chinese).

The **student edition** (``book/student/``, committed, opened by Binder, Colab and the
site's download button) drops every solution and keeps the ``check`` cells. The
**answer key** (``_build/answer-key/`` unless ``--answer-key DIR``; not committed) keeps
the solutions, in plain sight under each exercise.
"""

from __future__ import annotations

import argparse
import ast
import copy
import html
import json
import re
import sys
from pathlib import Path

import nbformat

STUDENT_DIR = Path("book") / "student"
ANSWER_KEY_DIR = Path("_build") / "answer-key"
TARGET = re.compile(r"^\([\w-]+\)=[ \t]*\n", re.M)  # a MyST label above a heading (the glossary's links)


class Words(dict):
    """What the edition writer itself writes, in one language."""


WORDS = {
    "en": Words(
        folder=Path("book"), site="book", exercise="Exercise {n}", solution="Solution to Exercise {n}",
        figure="*Figure: {caption}*", admonitions={},
        widget="> **Interactive figure**, on the [course website]({url}){caption}", colon=": ",
        key=("> **Answer key**, for instructors: the solutions are under each exercise. Do not hand it out; "
             "give students the notebooks in `book/student/`. Generated from the chapter by "
             "`python -m coursekit.editions`."),
        student=("> **Student notebook.** Run the cells from the top (JupyterLab: *Run → Run All Cells*; "
                 "Colab: *Runtime → Run all*) and read along; the same chapter is on the [course website]({page})."),
        checks=(" Under an exercise, replace the `...` in the answer cell with your answer and run the cell: "
                "`check` prints ✔, or what is off and a hint, never the answer. The solutions are on the "
                "website, hidden under each exercise."),
    ),
    "zh": Words(
        folder=Path("book") / "zh", site="zh", exercise="练习 {n}", solution="练习 {n} 的解答",
        figure="*图：{caption}*",
        widget="> **交互图**，见[课程网站]({url}){caption}", colon="：",
        admonitions={"note": "注意", "warning": "警告", "tip": "提示", "important": "重要", "caution": "小心",
                     "attention": "注意", "danger": "危险", "error": "错误", "hint": "提示", "seealso": "另见"},
        key=("> **参考答案**（供教师使用）：每道练习下面都有解答。请勿发给学生；学生使用 `book/zh/student/` 中的"
             "笔记本。由 `python -m coursekit.editions` 从章节生成。"),
        student=("> **学生笔记本。** 从头运行各单元（JupyterLab：*Run → Run All Cells*；Colab：*代码执行程序 → 全部运行*），"
                 "边运行边阅读；同一章也在[课程网站]({page})上。"),
        checks=("每道练习下面，把答案单元中的 `...` 换成你的答案并运行该单元：`check` 会打印 ✔，或者指出哪里不对并给出提示，"
                "但绝不给出答案。解答在网站上，隐藏在每道练习下面。在 Colab 上，先在任一单元格中运行 "
                "`%env COURSEKIT_LANG=zh`，`check` 就会用中文作答。"),
    ),
}
LANGS = tuple(WORDS)


def student_dir(lang: str = "en") -> Path:
    return WORDS[lang]["folder"] / "student"
CHAPTER = re.compile(r"^\d\d_.+\.ipynb$")
SOLUTION_TAG = "solution"

GLUE = re.compile(r"\{glue:text\}`([A-Za-z0-9_]+)(?::([^`]*))?`")
CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
ANY_ROLE = re.compile(r"\{[a-z][\w:-]*\}`")
DIRECTIVE = re.compile(r"^(?P<fence>`{3,}|~{3,})\{(?P<name>[\w-]+)\}[ \t]*(?P<arg>[^\n]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$\n?", re.M | re.S)
OPTION = re.compile(r"^:([\w-]+):[ \t]*(.*)$")
LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)\s]+)\)")
# An interactive figure (README, "Adding an interactive figure"): raw HTML whose element
# carries data-widget, then the <script> tags that drive it. It runs on the website only.
WIDGET = re.compile(r"^<(?P<tag>figure|div)\b(?P<attrs>[^>]*\bdata-widget=\"[\w-]+\"[^>]*)>(?P<body>.*?)^</(?P=tag)>[ \t]*\n?"
                    r"(?:[ \t]*<script\b[^>]*>[ \t]*</script>[ \t]*\n?)*", re.M | re.S)
LEFTOVER = [
    (re.compile(r"^\s*(`{3,}|~{3,})\{", re.M), "a MyST directive"),
    (ANY_ROLE, "a MyST role"),
    (re.compile(r"^:[\w-]+:", re.M), "a directive option"),
    (re.compile(r"^\([\w-]+\)=\s*$", re.M), "a MyST target"),
    (re.compile(r"data-widget=|<script\b"), "an interactive figure's markup"),
]
ADMONITIONS = {"note", "warning", "tip", "important", "caution", "attention", "danger", "error", "hint", "seealso"}


def find_root(start: Path | None = None) -> Path:
    """The repository: the first folder, from ``start`` up, with _config.yml and book/."""
    here = (start or Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        if (folder / "_config.yml").is_file() and (folder / "book").is_dir():
            return folder
    raise SystemExit("run this inside the course repository (no _config.yml with a book/ folder found)")


def _config(root: Path) -> dict:
    import yaml  # installed with Jupyter Book

    return yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))


def site_url(root: Path) -> str:
    """The website's address: GitHub Pages of repository.url in _config.yml, which
    .github/workflows/pages.yml publishes."""
    url = _config(root)["repository"]["url"].rstrip("/")
    owner, repo = url.split("github.com/")[1].split("/")[:2]
    return f"https://{owner}.github.io/{repo}"


def chapters(root: Path, lang: str = "en") -> list[Path]:
    return sorted(p for p in (root / WORDS[lang]["folder"]).glob("*.ipynb") if CHAPTER.match(p.name))


def glued_values(nb) -> dict[str, object]:
    """Every value the notebook glued, from its stored outputs."""
    values = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            text = out.get("data", {}).get("application/papermill.record/text/plain")
            if name and text is not None:
                try:
                    values[name] = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    values[name] = text
    return values


def _bibliography(root: Path) -> dict[str, str]:
    """Citation key -> "Author et al., year" from book/references.bib."""
    text = (root / "book" / "references.bib").read_text(encoding="utf-8")
    found = {}
    for key, body in re.findall(r"@\w+\{([^,\s]+),(.*?)\n\}", text, re.S):
        author = re.search(r"author\s*=\s*\{(.+?)\},?\s*\n", body)
        year = re.search(r"year\s*=\s*\{?(\d{4})", body)
        names = [a.strip() for a in author.group(1).split(" and ")] if author else ["?"]
        first = names[0].split(",")[0].strip()
        who = first if len(names) == 1 else (f"{first} and {names[1].split(',')[0].strip()}" if len(names) == 2 else f"{first} et al.")
        found[key] = f"{who}, {year.group(1) if year else 'n.d.'}"
    return found


class Converter:
    """Turns one chapter's MyST Markdown into plain Markdown, for one edition."""

    def __init__(self, root: Path, chapter: Path, glue: dict, with_solutions: bool, local: set[str],
                 lang: str = "en"):
        self.root, self.chapter, self.glue = root, chapter, glue
        self.words = WORDS[lang]
        self.with_solutions, self.local = with_solutions, local
        self.site = site_url(root)
        self.bib = _bibliography(root)
        self.exercises: dict[str, str] = {}
        self.number = int(chapter.name[:2])  # the chapter's number, NN_name.ipynb

    def fail(self, what: str):
        raise ValueError(f"{self.chapter.name}: {what}")

    def glue_text(self, match: re.Match) -> str:
        name, spec = match.group(1), match.group(2) or ""
        if name not in self.glue:
            self.fail(f"{{glue:text}}`{name}` has no stored value (run the chapter and save it)")
        return format(self.glue[name], spec)

    def cite(self, match: re.Match) -> str:
        keys = [k.strip() for k in match.group(1).split(",")]
        missing = [k for k in keys if k not in self.bib]
        if missing:
            self.fail(f"citation keys not in references.bib: {missing}")
        return "(" + "; ".join(self.bib[k] for k in keys) + ")"

    def link(self, match: re.Match) -> str:
        target, _, fragment = match.group(1).partition("#")
        if target in self.local:
            return match.group(0)  # a notebook of the same edition, in the same folder
        path = (self.chapter.parent / target).resolve()
        try:
            rel = path.relative_to(self.root.resolve())
        except ValueError:
            self.fail(f"link outside the repository: {target}")
        if not path.exists():
            self.fail(f"link to a missing file: {target}")
        if path.suffix in (".md", ".ipynb"):
            page = rel.with_suffix(".html").as_posix()
            if page.startswith("book/zh/"):
                page = page.removeprefix("book/")  # the Chinese edition is published under zh/
            url = f"{self.site}/{page}"
        else:
            url = f"{_config(self.root)['repository']['url'].rstrip('/')}/blob/main/{rel.as_posix()}"
        return f"]({url}{'#' + fragment if fragment else ''})"

    def inline(self, text: str) -> str:
        text = GLUE.sub(self.glue_text, text)
        text = CITE.sub(self.cite, text)
        return LINK.sub(self.link, text)

    def directive(self, match: re.Match) -> str:
        name, arg, body = match.group("name"), match.group("arg").strip(), match.group("body")
        lines = body.split("\n")
        options = {}
        while lines and OPTION.match(lines[0]):
            key, value = OPTION.match(lines[0]).groups()
            options[key] = value.strip()
            lines.pop(0)
        body = "\n".join(lines).strip("\n")
        if name == "exercise":
            label = options.get("label") or self.fail(f"exercise without a :label: ({arg})")
            self.exercises[label] = f"{self.number}.{len(self.exercises) + 1}"  # as the website numbers them
            title = self.words["exercise"].format(n=self.exercises[label]) + (f" ({arg})" if arg else "")
            return f"### {title}\n\n{body}\n"
        if name == "solution":
            if not self.with_solutions:
                return ""
            number = self.exercises.get(arg) or self.fail(f"solution to an unknown exercise {arg}")
            return f"#### {self.words['solution'].format(n=number)}\n\n{body}\n"
        if name in ADMONITIONS or name == "admonition":
            title = arg if name == "admonition" else self.words["admonitions"].get(name, name.capitalize())
            quoted = "\n".join(f"> {line}".rstrip() for line in body.split("\n"))
            return f"> **{title}**\n>\n{quoted}\n"
        self.fail(f"no plain-Markdown form for the directive {{{name}}}: teach coursekit.editions.Converter")

    def widget(self, match: re.Match) -> str:
        """An interactive figure needs the website's scripts: a one-line pointer to it,
        with the figure's caption."""
        anchor = re.search(r'\sid="([^"]+)"', match.group("attrs"))
        url = f"{self.site}/{self.words['site']}/{self.chapter.stem}.html" + (f"#{anchor.group(1)}" if anchor else "")
        caption = re.search(r"<figcaption>(.*?)</figcaption>", match.group("body"), re.S)
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", caption.group(1))).split()) if caption else ""
        return self.words["widget"].format(url=url, caption=(self.words["colon"] + text) if text else "") + "\n"

    def markdown(self, source: str) -> str:
        text = TARGET.sub("", source)
        text = WIDGET.sub(self.widget, text)
        text = DIRECTIVE.sub(self.directive, text)
        text = self.inline(text)
        text = re.sub(r"\n{3,}", "\n\n", text).strip("\n")
        for pattern, what in LEFTOVER:
            found = pattern.search(text)
            if found:
                self.fail(f"{what} is left in the {('answer key' if self.with_solutions else 'student edition')}: "
                          f"{text[max(0, found.start() - 40): found.end() + 40]!r}")
        return text


def _banner(chapter: Path, site: str, with_solutions: bool, has_checks: bool, lang: str = "en") -> str:
    words = WORDS[lang]
    page = f"{site}/{words['site']}/{chapter.stem}.html"
    if with_solutions:
        return words["key"]
    text = words["student"].format(page=page)
    if has_checks:
        text += words["checks"]
    return text


def _plain_cell(cell, keep: tuple[str, ...] = ("tags",)):
    cell = copy.deepcopy(cell)
    cell.metadata = nbformat.NotebookNode({k: v for k, v in cell.metadata.items() if k in keep})
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    return cell


def edition(root: Path, chapter: Path, with_solutions: bool, lang: str = "en") -> str:
    """One chapter's notebook in the student edition (or the answer key), as text."""
    nb = nbformat.read(chapter, as_version=4)
    local = {p.name for p in chapters(root, lang)}
    conv = Converter(root, chapter, glued_values(nb), with_solutions, local, lang)
    cells = []
    has_checks = any(c.cell_type == "code" and re.search(r"^check\(", c.source, re.M) for c in nb.cells)
    title_done = False
    for cell in nb.cells:
        if cell.cell_type == "code":
            if SOLUTION_TAG in cell.metadata.get("tags", []):
                continue  # computes numbers for the solutions: their text now carries them
            cells.append(_plain_cell(cell))
            caption = cell.metadata.get("mystnb", {}).get("figure", {}).get("caption")
            if caption:
                text = conv.words["figure"].format(caption=conv.inline(caption))
                cells.append(nbformat.v4.new_markdown_cell(text, id=f"{cell.id}-caption"))
            continue
        text = conv.markdown(cell.source)
        if text:
            new = _plain_cell(cell)
            new.source = text
            cells.append(new)
        if not title_done and text.startswith("# "):
            banner = _banner(chapter, conv.site, with_solutions, has_checks, lang)
            cells.append(nbformat.v4.new_markdown_cell(banner, id="edition-banner"))
            title_done = True
    if not title_done:
        raise ValueError(f"{chapter.name}: no title cell ('# ...') to put the edition's banner under")
    out = nbformat.v4.new_notebook(cells=cells)
    out.metadata = nbformat.NotebookNode({k: copy.deepcopy(v) for k, v in nb.metadata.items() if k in ("kernelspec", "language_info")})
    out.metadata["coursekit"] = {
        "edition": "answer key" if with_solutions else "student",
        "generated_from": chapter.relative_to(root).as_posix(),
        "by": "python -m coursekit.editions",
    }
    out.nbformat, out.nbformat_minor = nb.nbformat, nb.nbformat_minor
    nbformat.validate(out)
    return json.dumps(out, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def build(root: Path, with_solutions: bool = False, lang: str = "en") -> dict[str, str]:
    """File name -> notebook text, for every chapter of one edition."""
    return {chapter.name: edition(root, chapter, with_solutions, lang) for chapter in chapters(root, lang)}


def write(files: dict[str, str], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.ipynb"):
        if old.name not in files:
            old.unlink()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


def out_of_step(root: Path, langs: tuple[str, ...] = LANGS) -> list[str]:
    """What differs between book/student/ (and book/zh/student/) and what the chapters
    give (empty: in step)."""
    problems = []
    for lang in langs:
        if not chapters(root, lang):
            continue
        want = build(root, lang=lang)
        rel = student_dir(lang)
        folder = root / rel
        have = {p.name for p in folder.glob("*.ipynb")} if folder.is_dir() else set()
        problems += [f"missing: {(rel / n).as_posix()}" for n in sorted(set(want) - have)]
        problems += [f"not from a chapter: {(rel / n).as_posix()}" for n in sorted(have - set(want))]
        problems += [f"out of step: {(rel / n).as_posix()}" for n in sorted(set(want) & have)
                     if (folder / n).read_text(encoding="utf-8") != want[n]]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coursekit.editions", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report whether book/student/ is in step; exit 1 if not")
    parser.add_argument("--answer-key", type=Path, default=None, metavar="DIR",
                        help=f"where to write the answer key (default: {ANSWER_KEY_DIR} in the repository)")
    args = parser.parse_args(argv)
    root = find_root()
    if args.check:
        problems = out_of_step(root)
        for p in problems:
            print(p)
        if problems:
            print("regenerate with: python -m coursekit.editions")
            return 1
        print("the student editions are in step with the chapters")
        return 0
    key_dir = args.answer_key or root / ANSWER_KEY_DIR
    for lang in LANGS:
        if not chapters(root, lang):
            continue
        student = build(root, lang=lang)
        write(student, root / student_dir(lang))
        key = key_dir if lang == "en" else key_dir / lang
        write(build(root, with_solutions=True, lang=lang), key)
        print(f"student edition ({lang}): {len(student)} notebooks in {root / student_dir(lang)}")
        print(f"answer key ({lang}):      {len(student)} notebooks in {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

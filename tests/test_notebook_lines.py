"""Every code line in the book's notebooks fits the code box: at most 88 characters.

The site's code box shows about 88 characters; a longer line scrolls sideways, and in
the student notebooks it wraps. The only lines exempt are IPython magics (``%pip``):
they are shell commands, not Python, and the hidden Colab cell's install line must carry
the repository URL in full (``tests/test_site.py`` and ``tests/test_editions.py`` pin it).
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
NOTEBOOKS = sorted(
    p
    for p in BOOK.rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts and p.parent.name != "student"
)
MAX = 88


def long_lines(notebook: dict, limit: int = MAX) -> list[str]:
    """The code lines of ``notebook`` longer than ``limit``, as 'cell N: line'."""
    found = []
    for n, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = cell["source"]
        source = "".join(source) if isinstance(source, list) else source
        for line in source.split("\n"):
            if len(line) > limit and not re.match(r"\s*%", line):
                found.append(f"cell {n}: {line}")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_code_lines_fit_the_code_box(path):
    found = long_lines(json.loads(path.read_text(encoding="utf-8")))
    assert not found, f"{len(found)} code lines over {MAX} characters:\n" + "\n".join(found)


def test_the_check_fails_on_a_long_line_and_exempts_only_magics():
    cell = {"cell_type": "code", "source": ["x = 1\n", "y = " + "1 + " * 30 + "1\n"]}
    magic = {"cell_type": "code", "source": "    %pip install " + "a" * 100}
    prose = {"cell_type": "markdown", "source": "word " * 40}
    assert len(long_lines({"cells": [cell]})) == 1
    assert long_lines({"cells": [magic, prose]}) == []
    assert long_lines({"cells": [{"cell_type": "code", "source": "z" * 88}]}) == []
    assert len(long_lines({"cells": [{"cell_type": "code", "source": "z" * 89}]})) == 1


HIDDEN = {"remove-cell", "remove-input"}


def _hidden(cell: dict) -> bool:
    return bool(HIDDEN & set(cell.get("metadata", {}).get("tags", [])))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_page_opens_with_its_subject_and_setup_is_shared_and_hidden(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    visible = [c for c in cells if not _hidden(c)]
    first = re.sub(r"^(\([\w-]+\)=\s*\n)+", "", "".join(visible[0]["source"]))  # a label may come first
    assert visible[0]["cell_type"] == "markdown" and first.startswith("# "), (
        "the first thing on the page is its title, not code"
    )
    for cell in cells:
        source = "".join(cell["source"])
        if cell["cell_type"] != "code":
            continue
        assert "def glue_float" not in source, "import glue_float from coursekit.setup"
        if "from coursekit.setup import" in source:
            assert _hidden(cell), "the setup cell is hidden on the site"

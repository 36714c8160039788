"""What every chapter needs before its first line: the glue helper, the figure fonts.

A chapter's first code cell (hidden on the site) is::

    import matplotlib.pyplot as plt
    import numpy as np

    import celib
    from coursekit import check
    from coursekit.setup import glue_float

    plt.style.use(celib.MPLSTYLE)

Importing this module also lets matplotlib draw Chinese text: the English and Chinese
editions run the same code cells, and only the labels' text differs, so the fonts are
chosen here rather than in a cell. In the English edition, Latin text keeps matplotlib's
default (DejaVu Sans) and a character it lacks is drawn from the first CJK font
installed (fonts-noto-cjk on Debian, which CI installs); in the Chinese edition (a kernel
started in ``book/zh/``) the CJK font comes first. Without a CJK font nothing changes.
"""

import json
from pathlib import Path

from myst_nb import glue

# CJK fonts in order of preference: Debian/Ubuntu's Noto, then other common ones
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "Microsoft YaHei",
    "PingFang SC",
    "SimHei",
)


def use_cjk_fallback() -> str | None:
    """Draw figure text in DejaVu Sans, falling back to a CJK font for Chinese.

    Returns the CJK font chosen, or None if none is installed (then nothing changes,
    and no font warning is printed).
    """
    import matplotlib as mpl
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in installed:
            families = ["DejaVu Sans", name]
            if chinese_edition():
                # first, so that labels mixing Chinese and $math$ are drawn too (the text
                # around mathtext takes the first family only)
                families.reverse()
            mpl.rcParams["font.family"] = families
            return name
    return None


def chinese_edition(folder: Path | None = None) -> bool:
    """Whether the notebook runs from the Chinese edition (``book/zh/``, its kernel's
    working directory), where figure text is mostly Chinese."""
    parts = (folder or Path.cwd()).resolve().parts
    return any(a == "book" and b == "zh" for a, b in zip(parts, parts[1:]))


def glue_float(name: str, value, digits: int = 8) -> None:
    """Glue a plain float for the prose, rounded so float noise never shows.

    The chapters quote it as ``{glue:text}`name:.3f```; rounding to ``digits``
    decimals keeps the stored output (which nbval compares) free of the last
    bits of floating-point noise.
    """
    glue(name, round(float(value), digits), display=False)


def benchmark(name: str) -> dict:
    """The saved results ``benchmarks/<name>.json`` of the repository.

    Found from the working directory upwards, so that a page reads the same file
    wherever it sits in the book (``book/appendix/`` or ``book/zh/appendix/``).
    """
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        path = folder / "benchmarks" / f"{name}.json"
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))
    raise FileNotFoundError(f"benchmarks/{name}.json not found above {here}")


use_cjk_fallback()

__all__ = ["benchmark", "chinese_edition", "glue_float", "use_cjk_fallback", "CJK_FONTS"]

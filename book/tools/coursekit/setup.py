"""What every chapter needs before its first line: the glue helper.

A chapter's first code cell (hidden on the site) is::

    import matplotlib.pyplot as plt
    import numpy as np

    import celib
    from coursekit import check
    from coursekit.setup import glue_float

    plt.style.use(celib.MPLSTYLE)
"""

from myst_nb import glue


def glue_float(name: str, value, digits: int = 8) -> None:
    """Glue a plain float for the prose, rounded so float noise never shows.

    The chapters quote it as ``{glue:text}`name:.3f```; rounding to ``digits``
    decimals keeps the stored output (which nbval compares) free of the last
    bits of floating-point noise.
    """
    glue(name, round(float(value), digits), display=False)


__all__ = ["glue_float"]

"""The course's tools: ``check`` for the exercises, and the student edition writer.

In a chapter::

    from coursekit import check
    check("ex-bce-table", answer)
"""

from .checks import check, verdict

__all__ = ["check", "verdict"]

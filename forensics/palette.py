"""One style per model (a colour and a dash), shared by the HTML report's chart and the notebook's.

Eight colours that stay apart for colour-blind readers (Okabe and Ito's, with black swapped for
grey and their yellow, unreadable on white, for Tol's wine), and a dash pattern for each further
eight, so twelve models are twelve distinct lines, in print and in greyscale too.
"""

from __future__ import annotations

__all__ = ["COLOURS", "DASHES", "styles"]

COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#555555", "#882255")
# The same patterns as SVG stroke-dasharray and as matplotlib (offset, on-off sequence).
DASHES = ("", "6 3", "2 2", "8 3 2 3")
_MPL_DASHES = ("-", (0, (6, 3)), (0, (2, 2)), (0, (8, 3, 2, 3)))


def styles(models) -> dict:
    """{model: {"color", "dash", "linestyle"}} for models in the order given (the report's order)."""
    out = {}
    for i, model in enumerate(dict.fromkeys(models)):
        k = (i // len(COLOURS)) % len(DASHES)
        out[model] = {"color": COLOURS[i % len(COLOURS)], "dash": DASHES[k], "linestyle": _MPL_DASHES[k]}
    return out

"""One colour, line style and marker per method label, the same in every figure of the process.

Colours: the Okabe-Ito colour-blind-safe palette; line styles and markers make figures read in
greyscale too. Labels are given palette slots in the order they are first seen, unless fixed
beforehand with :func:`register_labels` (e.g. ``register_labels(sorted(all_methods))`` for an order
that does not depend on which figure is drawn first) or :func:`set_label_colors`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["OKABE_ITO", "color_for", "style_for", "register_labels", "set_label_colors", "reset_label_colors"]

#: Okabe & Ito (2008) colour-blind-safe palette (blue, orange, green, vermillion, purple,
#: sky blue, yellow, black).
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#000000",
)
_LINESTYLES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")

_SLOTS: dict[str, int] = {}
_OVERRIDES: dict[str, str] = {}


def register_labels(labels: Iterable[str]) -> None:
    """Give palette slots to ``labels`` in this order (labels already seen keep their slot).

    :param labels: method labels.
    """
    for lab in labels:
        if lab not in _SLOTS:
            _SLOTS[lab] = len(_SLOTS)


def set_label_colors(mapping: Mapping[str, str]) -> None:
    """Fix the colour of some labels for all later figures.

    :param mapping: label -> any matplotlib colour.
    """
    _OVERRIDES.update(mapping)


def reset_label_colors() -> None:
    """Forget all slot assignments and colour overrides."""
    _SLOTS.clear()
    _OVERRIDES.clear()


def _slot(label: str) -> int:
    register_labels([label])
    return _SLOTS[label]


def color_for(label: str, colors: Mapping[str, str] | None = None) -> str:
    """Colour of a method label (stable across figures of the process).

    :param label: method label.
    :param colors: per-call overrides.
    :returns: a matplotlib colour.
    """
    if colors and label in colors:
        return colors[label]
    if label in _OVERRIDES:
        return _OVERRIDES[label]
    return OKABE_ITO[_slot(label) % len(OKABE_ITO)]


def style_for(label: str) -> tuple[str, str]:
    """Line style and marker of a method label (stable across figures of the process).

    :param label: method label.
    :returns: ``(linestyle, marker)``.
    """
    i = _slot(label)
    return _LINESTYLES[(i + i // len(OKABE_ITO)) % len(_LINESTYLES)], _MARKERS[i % len(_MARKERS)]

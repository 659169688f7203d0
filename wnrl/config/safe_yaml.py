"""The one YAML loader of wnrl: config, sweep and tune files and ``--set`` values all go through it.

PyYAML's safe loader builds no Python objects and runs nothing, but it still accepts three things
a wnrl file must not hold, which :class:`SafeLoader` refuses before any value is built:

* a key given twice in one mapping (plain YAML silently keeps the last: a second ``norm:`` or a
  second ``train:`` section would replace the first without a word);
* aliases that expand to more than :data:`MAX_EXPANDED` values (the "billion laughs" document:
  nine lines whose aliases expand to 10⁹ values, which exhaust memory when validated);
* an alias inside its own anchor (a recursive structure).

Each raises :class:`YAMLRefused`, whose message names the key and the lines; the reader
(:func:`wnrl.config.load.read_yaml`) prefixes the file.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["MAX_EXPANDED", "SafeLoader", "YAMLRefused", "yaml_load"]

#: The most values (scalars, lists and mappings) a document's aliases may expand to. A large
#: sweep file holds a few thousand; the billion-laughs document, 10⁹.
MAX_EXPANDED = 100_000

_MERGE = "tag:yaml.org,2002:merge"


class YAMLRefused(yaml.YAMLError):
    """A document wnrl refuses to read (duplicate key, alias bomb, recursive alias); the message
    is ``KEY: problem; fix`` without the file."""


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _expanded_size(root: Node) -> int:
    """How many values ``root`` holds once every alias is expanded (without expanding them).

    :param root: the composed document
    :raises YAMLRefused: when an alias refers to a node that contains it
    """
    sizes: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        key = id(node)
        if leaving:
            sizes[key] = 1 + sum(sizes[id(c)] for c in _children(node))
            open_.discard(key)
        elif key in open_:
            raise YAMLRefused(
                f"line {_line(node)}: an alias refers to the anchor it is inside (a recursive value); remove the alias"
            )
        elif key not in sizes:
            open_.add(key)
            stack.append((node, True))
            stack.extend((c, False) for c in _children(node) if id(c) not in sizes)
    return sizes[id(root)]


def _check_aliases(root: Node) -> None:
    """Refuse aliases that expand beyond :data:`MAX_EXPANDED` values (or are recursive)."""
    expanded = _expanded_size(root)
    if expanded > MAX_EXPANDED:
        raise YAMLRefused(
            f"aliases (*name) expand to {expanded:.3g} values, more than the {MAX_EXPANDED} a wnrl file may hold; "
            "write the values out or use fewer aliases"
        )


def _key_of(node: Node) -> tuple[str, str] | None:
    """A mapping key as ``(tag, text)``; ``None`` for a merge key (``<<``) or a non-scalar key."""
    if not isinstance(node, ScalarNode) or node.tag == _MERGE:
        return None
    return node.tag, node.value


def _check_duplicates(root: Node) -> None:
    """Refuse a key given twice in one mapping, naming its dotted path and both lines.

    ``<<: *defaults`` merges are not duplicates: a key written beside a merge overrides the
    merged one, as YAML defines.
    """
    seen: set[int] = set()
    stack: list[tuple[Node, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, SequenceNode):
            stack.extend((c, f"{path}[{i}]") for i, c in enumerate(node.value))
        elif isinstance(node, MappingNode):
            first: dict[tuple[str, str], Node] = {}
            for key_node, value_node in node.value:
                key = _key_of(key_node)
                dotted = f"{path}.{key_node.value}" if path else str(key_node.value)
                if key is not None and key in first:
                    raise YAMLRefused(
                        f"{dotted}: given twice (lines {_line(first[key])} and {_line(key_node)}); "
                        "keep one (YAML would silently use the last)"
                    )
                if key is not None:
                    first[key] = key_node
                stack.append((value_node, dotted))


class SafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader (no Python tags, nothing executed) that also reads ``1e-3`` as a
    float (YAML 1.1 needs a dot, ``1.0e-3``, so learning rates would silently become strings)
    and refuses duplicate keys, alias bombs and recursive aliases (see the module docstring)."""

    def construct_document(self, node: Node) -> Any:
        """Check the composed document, then build its values.

        :param node: the document's root node
        :raises YAMLRefused: on a duplicate key, an alias bomb or a recursive alias
        """
        _check_aliases(node)
        _check_duplicates(node)
        return super().construct_document(node)


SafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def yaml_load(text: str) -> Any:
    """Parse YAML text with :class:`SafeLoader`.

    :param text: the document
    :raises YAMLRefused: on a duplicate key, an alias bomb or a recursive alias
    :raises yaml.YAMLError: on a syntax error
    """
    return yaml.load(text, Loader=SafeLoader)

"""Reading experiment YAML in time and memory linear in the file's size.

``yaml.safe_load`` semantics only (tags that would construct Python objects
are refused), with three bounds checked before anything walks the data: the
file's size, the nesting depth (read from the event stream, which does not
recurse) and the number of values the data expands to when every alias use
is counted (counted once per distinct node). The key-path → line map walks
each node once, so repeats of an alias cost nothing.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ganlab.errors import ConfigError
from ganlab.schema import join_path

# -- YAML with line numbers --------------------------------------------------------------------
#: Largest experiment file read (bytes); real ones are a few KB.
MAX_YAML_BYTES = 1_000_000
#: Deepest nesting of mappings and lists; real experiments nest 4-5 levels.
MAX_YAML_DEPTH = 50
#: Most values (scalars, lists, mappings) the data may expand to, aliases
#: repeated as often as they are used: a "billion laughs" file of 1 KB
#: expands to 10^9 and is refused here, before anything walks it.
MAX_YAML_VALUES = 100_000


def parse_yaml(text: str, where: str) -> tuple[Any, dict[str, int]]:
    """``yaml.safe_load`` the text and map each key path to its line (1-based).

    Work is linear in the size of the text, aliases included: the nesting
    depth is checked on the event stream before anything recursive runs,
    the expanded size is counted once per distinct node, and repeats of an
    alias are not walked again.

    Raises:
        ConfigError: Not valid YAML, a tag that would build a Python object,
            or data larger or deeper than the bounds above.

    """
    node = compose_bounded(text, where)
    try:
        data = yaml.SafeLoader(text).construct_document(node) if node is not None else None
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{where}: unsupported YAML tag{line} ({exc.problem}). Experiment "
                          "files are plain data: tags that construct Python objects are "
                          "refused.") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {exc}.") from None
    lines: dict[str, int] = {}
    if node is not None:
        _collect_lines(node, "", lines, where, set())
    return data, lines


def load_yaml_data(text: str, where: str) -> Any:
    """Plain data from YAML text, with the bounds of :func:`parse_yaml` (no line map).

    Raises:
        ConfigError: As :func:`parse_yaml`.

    """
    return parse_yaml(text, where)[0]


#: A float as researchers write it; YAML 1.1 reads ``1e-3`` (no dot) as a string.
_EXPONENT_FLOAT = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)[eE][-+]?\d+")


def parse_command_line_value(raw: str, where: str) -> Any:
    """A value given on the command line (``--set``, ``--grid``, ``--extractor-param``).

    Read as YAML, with the bounds of :func:`parse_yaml`, except that
    ``1e-3`` is the number 0.001 (YAML 1.1 wants ``1.0e-3``), inside lists
    and mappings too, so every option reads numbers the same way. An empty
    value is the empty string.

    Raises:
        ConfigError: Invalid YAML or beyond the bounds; ``where`` names the option.

    """
    return _exponents_as_floats(load_yaml_data(raw, where)) if raw.strip() else ""


def _exponents_as_floats(value: Any) -> Any:
    """``value`` with every ``1e-3``-style string, in lists and mappings too, as a float."""
    if isinstance(value, str):
        return float(value) if _EXPONENT_FLOAT.fullmatch(value.strip()) else value
    if isinstance(value, list):
        return [_exponents_as_floats(item) for item in value]
    if isinstance(value, dict):
        return {key: _exponents_as_floats(item) for key, item in value.items()}
    return value


def compose_bounded(text: str, where: str) -> yaml.Node | None:
    """The YAML node graph of ``text`` once its size, depth and expansion are checked.

    Raises:
        ConfigError: Invalid YAML, or beyond :data:`MAX_YAML_BYTES`,
            :data:`MAX_YAML_DEPTH` or :data:`MAX_YAML_VALUES`.

    """
    if len(text) > MAX_YAML_BYTES:
        raise ConfigError(f"{where}: the YAML is {len(text):,} characters long; ganlab reads "
                          f"at most {MAX_YAML_BYTES:,} (an experiment is a few KB). Is this "
                          "the right file?")
    try:
        _check_depth(text, where)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: not valid YAML{line}: {problem}.") from None
    if node is not None:
        total = _expanded_size(node, {}, set(), where)
        if total > MAX_YAML_VALUES:
            raise ConfigError(_too_large(where, total))
    return node


def _too_large(where: str, total: int) -> str:
    return (f"{where}: the YAML expands to more than {MAX_YAML_VALUES:,} values (counting "
            f"every use of an alias (*name): at least {total:,}). ganlab refuses it rather "
            "than run out of memory; an experiment needs a few hundred. Remove the repeated "
            "aliases.")


def _check_depth(text: str, where: str) -> None:
    """Refuse nesting deeper than :data:`MAX_YAML_DEPTH`, reading events (no recursion)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else "?"
                raise ConfigError(f"{where}: the YAML nests lists and mappings more than "
                                  f"{MAX_YAML_DEPTH} levels deep (at line {line}); an "
                                  "experiment needs a few. Flatten it.")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int],
                   where: str) -> int:
    """Values ``node`` expands to, each distinct node counted once (memoised)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        line = node.start_mark.line + 1 if node.start_mark else "?"
        raise ConfigError(f"{where}: an alias at line {line} refers to a list or mapping that "
                          "contains it (a recursive structure); experiments are plain trees.")
    total = 1
    if isinstance(node, (yaml.SequenceNode, yaml.MappingNode)):
        open_nodes.add(key)
        children = (node.value if isinstance(node, yaml.SequenceNode)
                    else [part for pair in node.value for part in pair])
        for child in children:
            total += _expanded_size(child, sizes, open_nodes, where)
            if total > MAX_YAML_VALUES:
                break  # no need to count further: it is refused
        open_nodes.discard(key)
    sizes[key] = total
    return total


def _collect_lines(node: yaml.Node, path: str, lines: dict[str, int], where: str,
                   seen: set[int]) -> None:
    """Map key paths to lines; a node met again (an alias repeat) is not walked again."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys_here: dict[str, int] = {}
        for key_node, value_node in node.value:
            child = join_path(path, str(key_node.value))
            if child in keys_here and key_node.value != "<<":
                # yaml.safe_load silently keeps the last of duplicate keys.
                raise ConfigError(f"{where}: key '{child}' appears twice (lines "
                                  f"{keys_here[child]} and {key_node.start_mark.line + 1}); "
                                  "YAML would silently keep only the last one. Merge them "
                                  "into one.")
            keys_here[child] = lines[child] = key_node.start_mark.line + 1
            _collect_lines(value_node, child, lines, where, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = join_path(path, index)
            lines[child] = item.start_mark.line + 1
            _collect_lines(item, child, lines, where, seen)

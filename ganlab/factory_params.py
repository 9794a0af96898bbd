"""The parameters a component's factory takes, for ``ganlab list-plugins --components``.

Read from the factory's signature. A lazy factory (``"module:attribute"``)
whose module is not imported yet is read from the module's source instead,
so listing parameters never imports a plugin's heavy modules (TensorFlow).
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganlab.registry import Component, LazyFactory

#: Arguments the engine gives a factory itself (never set in an experiment's params).
ENGINE_ARGUMENTS: dict[str, tuple[str, ...]] = {"architecture": ("image_shape",)}


@dataclass(frozen=True)
class Parameter:
    """One parameter of a component.

    Attributes:
        name: The key in the experiment's ``params``.
        default: The default as Python source (``"100"``, ``"'normal'"``), or
            ``None`` when the parameter is required.

    """

    name: str
    default: str | None

    def __str__(self) -> str:
        return self.name if self.default is None else f"{self.name}={self.default}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"name", "default"}`` or ``{"name", "required": true}``."""
        if self.default is None:
            return {"name": self.name, "required": True}
        return {"name": self.name, "default": self.default}


def component_parameters(component: Component) -> list[Parameter] | None:
    """The parameters ``component`` accepts in an experiment, or ``None`` if they cannot be read.

    ``None`` also for factories that take ``**kwargs`` (anything goes).
    """
    hidden = ENGINE_ARGUMENTS.get(component.kind, ())
    factory: Any = component.factory
    if isinstance(factory, LazyFactory):
        module_name, _, attribute = factory.target.partition(":")
        module = sys.modules.get(module_name)
        if module is None:
            return _parameters_from_source(module_name, attribute, hidden)
        factory = getattr(module, attribute, None)
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    found = []
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            return None
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL or parameter.name in hidden:
            continue
        default = (None if parameter.default is inspect.Parameter.empty
                   else repr(parameter.default))
        found.append(Parameter(parameter.name, default))
    return found


def _parameters_from_source(module_name: str, attribute: str,
                            hidden: tuple[str, ...]) -> list[Parameter] | None:
    """The parameters of ``attribute`` (a function, or a class's ``__init__``), from source."""
    try:
        spec = importlib.util.find_spec(module_name)
        origin = spec.origin if spec is not None else None
        tree = ast.parse(Path(origin).read_text(encoding="utf-8")) if origin else None
    except (ImportError, OSError, SyntaxError, ValueError):
        return None
    function = _function_named(tree.body, attribute) if tree is not None else None
    if function is None:
        return None
    arguments = function.args
    if arguments.kwarg is not None:
        return None
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults: list[ast.expr | None] = (
        [None] * (len(positional) - len(arguments.defaults)) + list(arguments.defaults))
    pairs = [*zip(positional, defaults, strict=True),
             *zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)]
    return [Parameter(argument.arg, None if default is None else ast.unparse(default))
            for argument, default in pairs if argument.arg not in ("self", "cls", *hidden)]


def _function_named(body: list[ast.stmt], name: str) -> ast.FunctionDef | None:
    """The top-level function ``name``, or the ``__init__`` of the top-level class ``name``."""
    for node in body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
        if isinstance(node, ast.ClassDef) and node.name == name:
            return next((item for item in node.body
                         if isinstance(item, ast.FunctionDef) and item.name == "__init__"), None)
    return None

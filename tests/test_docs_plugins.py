"""docs/plugins.md stays true: the hook reference matches the hookspecs, fields, examples."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

from test_docs_examples import block_defining

from ganlab import hookspecs
from ganlab.contracts import RunContext
from ganlab.plugins import load_plugins
from ganlab.testing import check_dataset

DOC = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"


def hookspec_signatures() -> dict[str, str]:
    found = {}
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction):
        if not hasattr(function, f"{hookspecs.PROJECT_NAME}_spec"):
            continue
        signature = inspect.signature(function)
        parameters = ", ".join(f"{p.name}: {p.annotation}"
                               for p in signature.parameters.values())
        found[name] = f"{name}({parameters}) -> {signature.return_annotation}"
    return found


def test_hook_reference_lists_every_hook_with_its_exact_signature() -> None:
    documented = re.findall(r"^### `(register_\w+\(.*\) -> .*)`$", DOC.read_text(), re.M)
    expected = hookspec_signatures()
    assert "register_feature_extractors" in expected and len(expected) == 8
    assert sorted(documented) == sorted(expected.values())


def test_run_context_fields_are_all_documented() -> None:
    text = DOC.read_text()
    table = text[text.index("### `RunContext` fields"):]
    rows = set(re.findall(r"^\| `(\w+)` \|", table, re.M))
    assert {f.name for f in dataclasses.fields(RunContext)} <= rows


def test_in_memory_dataset_example_keeps_the_contract(tmp_path: Path) -> None:
    (tmp_path / "stripes.py").write_text(block_defining(DOC, "class Stripes"))
    loaded = load_plugins(["stripes.py"], base_dir=tmp_path)
    dataset = check_dataset("stripes", registry=loaded.registry, count=8)
    assert dataset.num_examples() == 8 and dataset.source is None


def test_docstrings_never_point_at_a_design_handbook() -> None:
    root = DOC.parent.parent
    offenders = [str(p) for folder in ("ganlab", "plugins", "docs", "examples")
                 for p in (root / folder).rglob("*") if p.suffix in (".py", ".md", ".tmpl")
                 and "DESIGN.md" in p.read_text(encoding="utf-8")]
    assert offenders == []

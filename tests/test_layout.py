"""The house's rules (issue 23), from the source itself (bench/house.py prints the same graph): no import cycle
between DigitRec's modules, counting imports inside functions and for type checking, and nothing in the core that
imports a front end (the dashboard or the command line) or Streamlit."""

from bench.house import CORE, cycles, graph, modules, upward


def test_no_import_runs_in_a_circle():
    assert cycles(graph()) == []


def test_the_core_imports_no_front_end():
    assert upward(graph()) == []
    for name, module in modules().items():
        if name.split(".")[0] == CORE:
            source = module.path.read_text(encoding="utf-8")
            assert "import streamlit" not in source and "from streamlit" not in source, name


def test_the_graph_sees_every_kind_of_import(tmp_path):
    """bench/house.py on a made-up tree: an import in a function, under TYPE_CHECKING, relative, of a name
    from a package, and of a submodule each count; a cycle and an upward import are found."""
    core, app = tmp_path / "digitrec_core", tmp_path / "digitrec_app"
    (core / "sub").mkdir(parents=True)
    app.mkdir()
    (core / "__init__.py").write_text("from digitrec_core.a import A\n")
    (core / "a.py").write_text("A = 1\ndef f():\n    from digitrec_core import b\n")
    (core / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .sub import c\n")
    (core / "sub" / "__init__.py").write_text("")
    (core / "sub" / "c.py").write_text("from ..a import A\nimport digitrec_app.page\n")
    (app / "__init__.py").write_text("")
    (app / "page.py").write_text("import json\n")  # not one of ours: no edge
    edges = graph(tmp_path)
    assert edges["digitrec_core.a"] == {"digitrec_core.b"} and edges["digitrec_core.b"] == {"digitrec_core.sub.c"}
    assert edges["digitrec_core.sub.c"] == {"digitrec_core.a", "digitrec_app.page"}
    assert cycles(edges) == [["digitrec_core.a", "digitrec_core.b", "digitrec_core.sub.c"]]
    assert upward(edges) == [("digitrec_core.sub.c", "digitrec_app.page")]

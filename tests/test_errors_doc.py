"""docs/errors.md: every row of its bad-input tables names a test, and that test exists.

The doc keeps one row per bad input (what the user sees) in tables with the columns
`| bad input | what you see | test |`; the test column names the test that builds the
situation as `tests/<path>.py::test_name`. Each row must name exactly one test, and each named
file must define that function (at module level or in a class; found with `ast`, nothing is
imported). Rows inside HTML comments (placeholders for rows still to come) are not counted.
"""

from __future__ import annotations

import ast
import functools
import re

import pytest

from tests.conftest import ROOT

DOC = ROOT / "docs" / "errors.md"
REF = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
MIN_ROWS = 25


def cells(line: str) -> list[str]:
    """The cells of a Markdown table line (`\\|` inside a cell is not a separator)."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def rows() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(section, bad input, test references) for each body row of a table whose last column
    is `test`."""
    text = re.sub(r"<!--.*?-->", "", DOC.read_text(), flags=re.S)  # placeholders
    out, section, in_table = [], "", False
    for line in text.splitlines():
        if line.startswith("#"):
            section = line.lstrip("#").strip()
        if not line.lstrip().startswith("|"):
            in_table = False
            continue
        row = cells(line)
        if not in_table:  # the header line starts a table
            in_table = row[-1].lower() == "test"
            continue
        if in_table and not all(set(c) <= set(":-") for c in row):  # skip the |---| line
            out.append((section, row[0], REF.findall(row[-1])))
    return out


ROWS = rows()


@functools.cache
def defined_tests(path: str) -> frozenset[str]:
    """Names of the `test_*` functions defined in `path`, at module level or in a class."""
    tree = ast.parse((ROOT / path).read_text(), filename=path)
    bodies = [tree.body] + [n.body for n in tree.body if isinstance(n, ast.ClassDef)]
    return frozenset(
        n.name
        for body in bodies
        for n in body
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith("test_")
    )


def test_doc_has_the_tables():
    sections = {s for s, _, _ in ROWS}
    assert {"Data", "Kernels and models", "Studies and sweeps", "Files read back"} <= sections
    assert len(ROWS) >= MIN_ROWS, len(ROWS)
    assert "## What is checked when a file is read back" in DOC.read_text()


@pytest.mark.parametrize(
    ("section", "bad", "refs"), ROWS, ids=[f"{s}:{b[:60]}" for s, b, _ in ROWS]
)
def test_each_row_names_one_existing_test(section, bad, refs):
    assert len(refs) == 1, f"{section} / {bad}: names {len(refs)} tests, expected one"
    ((path, name),) = refs
    assert (ROOT / path).is_file(), f"{section} / {bad}: no file {path}"
    assert name in defined_tests(path), f"{section} / {bad}: {path} defines no {name}"

"""The catalogue, the tests and docs/conformance.md agree."""

from __future__ import annotations

import pytest

from tests.conformance import generate
from tests.conformance.catalogue import all_cases, key, key_of_test
from tests.conformance.conftest import TC_ID


def test_every_case_has_one_test_and_every_test_a_case(request: pytest.FixtureRequest) -> None:
    here = request.node.path.parent
    named: dict[str, int] = {}
    for item in request.session.items:
        if item.path.parent == here:
            match = TC_ID.search(item.name)
            if match:
                k = key_of_test(str(item.path), match.group(0))
                named[k] = named.get(k, 0) + 1
    if not named:
        pytest.skip("run with the whole conformance suite")
    cases = {key(v, c.id): c for v, _, c in all_cases()}
    assert set(named) <= set(cases), f"tests for unknown cases: {set(named) - set(cases)}"
    untested = [i for i, c in cases.items() if not c.not_yet and i not in named]
    assert not untested, f"catalogue cases without a test: {untested}"
    tested_not_yet = [i for i in named if cases[i].not_yet]
    assert not tested_not_yet, f"tested cases marked not yet: {tested_not_yet}"


def test_committed_table_is_current() -> None:
    """docs/conformance.md is what a passing run writes: regenerate it with
    `.venv/bin/pytest tests/conformance` after changing the catalogue."""
    assert generate.DOC.read_text() == generate.expected()

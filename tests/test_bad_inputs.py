"""Every bad input in tests/bad_inputs.py gets a clear error, or is accepted with a correct
result; docs/reliability.md shows the table as it is."""

import re
import warnings
from pathlib import Path

import pytest

from tests.bad_inputs import CASES, CLEAR, Accepted, Refused, render_markdown

REPO = Path(__file__).resolve().parents[1]
REFUSED = [c for c in CASES if isinstance(c, Refused)]
ACCEPTED = [c for c in CASES if isinstance(c, Accepted)]
# Errors that are never the answer to a user's mistake: they come from inside hat.
INTERNAL = (IndexError, ZeroDivisionError, KeyError, AttributeError, AssertionError, NameError)


def test_ids_are_unique_and_the_table_is_large():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert len(REFUSED) >= 150 and len(ACCEPTED) >= 15


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c.id)
def test_refused_with_a_clear_message(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(BaseException) as info:
            case.trigger()
    err = info.value
    assert not type(err).__module__.startswith("numba"), f"a numba error: {err!r}"
    expected = case.raises if isinstance(case.raises, tuple) else (case.raises,)
    if any(issubclass(kind, CLEAR) for kind in expected):
        assert isinstance(err, CLEAR), f"{type(err).__name__} is not a ValueError or TypeError"
    if not issubclass(KeyError, expected):  # find_layer: KeyError, as a mapping lookup
        assert not isinstance(err, INTERNAL), f"an internal error: {err!r}"
    assert isinstance(err, case.raises), f"expected {case.raises}, got {type(err).__name__}: {err}"
    message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    assert message.strip(), "an error without a message"
    assert re.search(case.match, message, re.S), (
        f"message {message!r} does not match {case.match!r}"
    )


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.id)
def test_accepted_with_a_correct_result(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        case.check()


def test_reliability_page_is_in_sync_with_the_table():
    page = (REPO / "docs" / "reliability.md").read_text()
    assert page == render_markdown(), (
        "docs/reliability.md is stale: regenerate it with "
        "python -m tests.bad_inputs > docs/reliability.md"
    )

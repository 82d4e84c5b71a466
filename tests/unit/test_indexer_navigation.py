"""Navigation text (tables of contents, indexes, link lists) is recognised; prose is not."""

from __future__ import annotations

import pytest

from indexer.navigation import is_navigation, navigation_share

pytestmark = pytest.mark.unit

TOC = """10 Statements . . . . . . . . . . . . . . . . . . . . . . 179
10.1 The if Statement. . . . . . . . . . . . . . . . . . . . . 179
10.2 The switch Statement. . . . . . . . . . . . . . . . . . 181
10.2.1 Notes for the C Programmer . . . . . . . . . . . . . . 182"""
TEXINFO_INDEX = """isfield . . . . . . . . . . . . . . . . . . . 120
isfigure . . . . . . . . . . . . . . . . . . 427
isfile . . . . . . . . . . . . . . . . . . . . 959"""
MAKEINDEX = """regular expressions, 91, 93-95
regexp, 91
rem, 12, 410
repmat, 480"""
LINKS = """- [Installation](install.md)
- [Usage](usage.md)
* [FAQ](https://example.org/faq)"""
PROSE = """Split the string str using the delimiters specified by del and return a cell string array
of substrings. If a delimiter is not specified the string is split at whitespace. See page 81
for examples, and section 5.3 for regular expressions."""


@pytest.mark.parametrize("text", [TOC, TEXINFO_INDEX, MAKEINDEX, LINKS, TOC.replace("\n", " ")])
def test_navigation_is_recognised(text):
    assert is_navigation(text)


@pytest.mark.parametrize("text", [PROSE, "", "Prices: 10, 20, 30.", "Wait... then press 3."])
def test_prose_is_not_navigation(text):
    assert not is_navigation(text)


def test_a_chunk_that_is_half_prose_is_not_navigation():
    assert navigation_share(PROSE + "\n" + TOC.splitlines()[0]) < 0.5

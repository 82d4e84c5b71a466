"""BM25 per language: stopwords and stemming in each chunk's language, detected or set."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.lexical import LexicalIndex, detect_language, tokenize

pytestmark = pytest.mark.unit
CHUNKS = [
    "Energideklarationen gäller i tio år och ska finnas när byggnaden säljs.",
    "La dichiarazione energetica resta valida per dieci anni dalla data di emissione.",
    "The ventilation filters should be changed twice a year by the owner.",
]


def test_languages_are_detected() -> None:
    assert [detect_language(c) for c in CHUNKS] == ["sv", "it", "en"]
    assert detect_language("hej") == "en"  # too short to tell: the default


def test_stemming_and_stopwords_follow_the_language() -> None:
    assert tokenize(["energideklarationerna gäller"], "sv")[0] == ["energideklaration", "gäll"]
    assert tokenize(["le dichiarazioni energetiche"], "it")[0] == ["dichiar", "energet"]
    assert "och" not in tokenize(["tak och väggar"], "sv")[0]
    with pytest.raises(ValueError, match="unsupported language"):
        tokenize(["x"], "xx")


def test_inflected_queries_find_their_chunks_in_each_language() -> None:
    index = LexicalIndex(np.array([1, 2, 3]), CHUNKS)
    assert index.languages == ["sv", "it", "en"]
    assert index.search("Hur länge gäller energideklarationer?", 3)[0][0] == 1
    assert index.search("Per quanto tempo sono valide le dichiarazioni energetiche?", 3)[0][0] == 2
    assert index.search("How often is a filter changed?", 3)[0][0] == 3


def test_a_set_language_is_used_for_every_chunk() -> None:
    index = LexicalIndex(np.array([1, 2]), CHUNKS[:2], language="sv")
    assert index.languages == ["sv", "sv"]

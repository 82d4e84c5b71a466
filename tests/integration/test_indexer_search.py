"""Search over a real store (all-MiniLM-L6-v2 + FAISS + SQLite): modes, namespaces, filters, loaders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexer import DocumentStore, SearchHit
from indexer.sample import build_sample_corpus
from ragtune.settings import IndexSettings

pytestmark = pytest.mark.integration
DOCS = Path(__file__).resolve().parents[1] / "data" / "docs"
LABELLED = json.loads((DOCS / "labelled-queries.json").read_text())
SHIPPED = [
    "roof-guide.md",
    "site-office.txt",
    "winter-roof-hugo.html",
    "windows-wordpress.html",
    "warranty-sphinx.html",
    "heat-pump-latex.pdf",
    "bathroom-libreoffice.pdf",
    "kitchen-chromium.pdf",
    "faq-records.json",
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, embedder_path: Path) -> DocumentStore:
    """Five FAQ categories in ``default`` (metadata category), the shipped files in ``docs``."""
    root = tmp_path_factory.mktemp("search-store")
    corpus = {p.stem: p for p in build_sample_corpus(root / "corpus")}
    opened = DocumentStore.open(root / "index", embedder_path, IndexSettings())
    for category in LABELLED["categories"]:
        report = opened.add_paths([corpus[category]], metadata={"category": category})
        assert report.added == 1
    report = opened.add_paths([DOCS / name for name in SHIPPED], namespace="docs")
    assert not report.failed, report.failed
    yield opened
    opened.close()


def test_every_mode_returns_scored_hits(store: DocumentStore):
    for mode in ("dense", "bm25", "hybrid"):
        hits = store.search("how long does a new roof last", k=3, mode=mode)
        assert 1 <= len(hits) <= 3 and all(isinstance(h, SearchHit) for h in hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert hits[0].section == "How long does a new roof last?" or mode == "bm25"
        if mode != "bm25":
            assert all(h.dense_score is not None and -1 <= h.dense_score <= 1 for h in hits)
        assert hits[0].chunk_id.startswith(hits[0].doc_id + ":")
        assert hits[0].source.endswith("takläggning.md")


def test_hybrid_at_least_as_good_as_dense_on_labelled_set(store: DocumentStore):
    results = {}
    for mode in ("dense", "bm25", "hybrid"):
        hits_at_5, reciprocal = 0, 0.0
        for item in LABELLED["queries"]:
            sections = [h.section for h in store.search(item["query"], k=5, mode=mode)]
            if item["section"] in sections:
                hits_at_5 += 1
                reciprocal += 1 / (sections.index(item["section"]) + 1)
        n = len(LABELLED["queries"])
        results[mode] = (hits_at_5 / n, reciprocal / n)
    print(f"\nmode     hit@5   MRR@5   (labelled set, {len(LABELLED['queries'])} queries)")
    for mode, (hit, mrr) in results.items():
        print(f"{mode:8} {hit:5.2f}   {mrr:5.3f}")
    assert results["hybrid"][0] >= results["dense"][0]
    assert results["hybrid"][1] >= results["dense"][1] - 1e-9
    assert results["dense"][0] >= 0.6  # the embedder itself works


def test_namespaces_are_isolated(store: DocumentStore):
    query = "how often must the heat pump filter be cleaned"
    in_docs = store.search(query, k=10, namespace="docs")
    assert in_docs and in_docs[0].source.endswith("heat-pump-latex.pdf")
    docs_ids = {d.doc_id for d in store.list_documents("docs")}
    assert {h.doc_id for h in in_docs} <= docs_ids
    for mode in ("dense", "bm25", "hybrid"):
        default_hits = store.search(query, k=50, namespace="default", mode=mode)
        assert not {h.doc_id for h in default_hits} & docs_ids
    assert store.search(query, namespace="nobody") == []


def test_metadata_and_field_filters(store: DocumentStore):
    hits = store.search("what does it cost", k=10, filters={"category": "vvs"})
    assert hits and all(h.metadata["category"] == "vvs" for h in hits)
    both = store.search("what does it cost", k=20, filters={"category": ["vvs", "garantier"]})
    assert {h.metadata["category"] for h in both} <= {"vvs", "garantier"}
    doc_id = hits[0].doc_id
    assert {h.doc_id for h in store.search("permit", k=10, filters={"doc_id": doc_id})} == {doc_id}
    assert store.search("permit", filters={"category": "no-such"}) == []
    records = store.search("building permit", k=10, namespace="docs", filters={"category": "bygglov"}, mode="bm25")
    assert records and all(h.source.split("#")[0].endswith("faq-records.json") for h in records)


@pytest.mark.parametrize(
    "name, query",
    [
        ("roof-guide.md", "moss on roof tiles holds moisture"),
        ("site-office.txt", "site office opening hours for deliveries"),
        ("winter-roof-hugo.html", "who must remove icicles above the pavement"),
        ("windows-wordpress.html", "U-value of triple glazed windows"),
        ("warranty-sphinx.html", "how long is the warranty on finished work"),
        ("heat-pump-latex.pdf", "error code E5 low refrigerant pressure"),
        ("bathroom-libreoffice.pdf", "thickness of the waterproofing membrane coats"),
        ("kitchen-chromium.pdf", "how long do stone worktops take to deliver"),
        ("faq-records.json", "what is a bygglov"),
    ],
)
def test_each_loader_is_searchable(store: DocumentStore, name: str, query: str):
    hits = store.search(query, k=3, namespace="docs")
    assert any(h.source.split("#")[0].endswith(name) for h in hits), [h.source for h in hits]


def test_documents_keep_their_metadata(store: DocumentStore):
    documents = {Path(d.source.split("#")[0]).name: d for d in store.list_documents("docs")}
    assert documents["warranty-sphinx.html"].title == "Warranty and complaints"
    assert documents["heat-pump-latex.pdf"].format == "pdf"
    records = [d for d in store.list_documents("docs") if d.format == "json"]
    assert len(records) == 6 and all(
        d.source.endswith(d.metadata.get("id", d.source[-11:])) or "#" in d.source for d in records
    )
    stats = store.stats()
    assert stats.namespaces == {"default": 5, "docs": len(SHIPPED) - 1 + 6}
    assert stats.chunks > 0 and stats.dimension == 384 and stats.disk_bytes > 0

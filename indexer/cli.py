"""CLI commands of `indexer` (registered on the `ragtune` root app as ``ragtune index …``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer

from ragtune.settings import Settings, get_settings

if TYPE_CHECKING:
    from indexer.schemas import SearchMode


def open_store(settings: Settings, read_only: bool = False) -> Any:
    """``ragtune.index.open_store``, imported when a command needs the store (keeps the CLI quick)."""
    from ragtune.index import open_store as open_

    return open_(settings, read_only=read_only)


def gateway_search(settings: Settings, query: str, k: int, namespace: str) -> tuple[str, list[dict]] | None:
    """The ``/v1/search`` answer (url, results) of the gateway that serves this home (``ragtune serve``
    announces itself in ``RAGTUNE_HOME/run/gateway.url``) or of ``RAGTUNE_URL``; None when none
    answers: it has the embedder loaded, so one query costs milliseconds instead of loading torch."""
    import httpx

    from ragtune.running import running_gateway

    url = os.environ.get("RAGTUNE_URL") or running_gateway(settings.home)
    if not url:
        return None
    key = os.environ.get("RAGTUNE_API_KEY")
    try:
        response = httpx.get(
            url.rstrip("/") + "/v1/search",
            params={"q": query, "k": k, "namespace": namespace},
            headers={"Authorization": f"Bearer {key}"} if key else {},
            timeout=httpx.Timeout(60.0, connect=0.3),
        )
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    return url, response.json()["results"]


index_app = typer.Typer(help="Index company documents and search them (FAISS + SQLite, hybrid).", no_args_is_help=True)


def parse_meta(pairs: list[str] | None) -> dict[str, Any]:
    """``k=v`` options -> dict; values that parse as JSON (numbers, true, lists) keep their type."""
    from indexer.errors import InvalidRequestError
    from ragtune.jsonlimits import JSONLimitError, loads_bounded

    metadata: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidRequestError(f"--meta takes key=value, got {pair!r}")
        try:
            metadata[key.strip()] = loads_bounded(value, what=f"--meta {key.strip()}")
        except JSONLimitError as exc:
            raise InvalidRequestError(str(exc)) from None
        except json.JSONDecodeError:
            metadata[key.strip()] = value
    return metadata


def _print_report(report: Any, as_json: bool) -> None:
    from indexer.errors import IndexerError
    from ragtune.console import console

    if as_json:
        print(report.model_dump_json(indent=2))
    else:
        for outcome in report.documents:
            if outcome.status == "failed":
                continue
            colour = {"added": "green", "replaced": "cyan", "skipped": "dim", "removed": "yellow"}
            masked = ", ".join(f"{kind} {count}" for kind, count in outcome.pii_masked.items())
            console.print(
                f"[{colour[outcome.status]}]{outcome.status:8}[/] {outcome.doc_id}  "
                f"{outcome.chunks:4d} chunks  {outcome.title}  ({outcome.source})"
                + (f"  PII masked: {masked}" if masked else "")
            )
        console.print(f"[bold]{report.summary()}[/]")
    failed = report.failed
    if failed:
        for outcome in failed:
            console.print(f"[red]failed[/]   {outcome.reason}")
        raise IndexerError(
            f"{len(failed)} of {len(report.documents)} files could not be indexed "
            "(see above); everything else was stored"
        )


def _add(paths: list[Path], namespace: str, metadata: dict[str, Any], as_json: bool, mask_pii: bool = False) -> None:
    from ragtune.console import progress_bar

    settings = get_settings()
    if mask_pii:
        settings = settings.model_copy(update={"index": settings.index.model_copy(update={"mask_pii": True})})
    with open_store(settings) as store, progress_bar("indexing") as update:
        report = store.add_paths(paths, namespace=namespace, metadata=metadata, progress=update)
    _print_report(report, as_json)


@index_app.command("add")
def add(
    paths: list[Path] = typer.Argument(..., help="Files or folders (recursive) to index."),
    namespace: str = typer.Option("default", "--namespace", "-n", help="Tenant namespace."),
    meta: list[str] = typer.Option(None, "--meta", help="Metadata key=value (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    mask_pii: bool = typer.Option(
        False,
        "--mask-pii",
        help="Mask personal data (names, e-mails, phones, IBANs, "
        "IDs…) before indexing; always on for namespaces in "
        "index.mask_pii_namespaces.",
    ),
) -> None:
    """Add documents; changed ones are replaced, unchanged ones skipped (content hash)."""
    _add(paths, namespace, parse_meta(meta), as_json, mask_pii=mask_pii)


@index_app.command("add-sample")
def add_sample(
    namespace: str = typer.Option("default", "--namespace", "-n", help="Tenant namespace."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Build the Zaragoza FAQ sample corpus (CC BY 4.0) into RAGTUNE_HOME/corpus/sample and index it."""
    from indexer.sample import ATTRIBUTION, build_sample_corpus
    from ragtune.console import console

    paths = build_sample_corpus(get_settings().home / "corpus" / "sample")
    console.print(f"sample corpus: {len(paths)} documents — {ATTRIBUTION}")
    _add(paths, namespace, {"corpus": "zaragoza-faq"}, as_json)


@index_app.command("remove")
def remove(
    doc_ids: list[str] = typer.Argument(..., help="Document ids (see `ragtune index list`)."),
    namespace: str = typer.Option(None, "--namespace", "-n", help="Only in this namespace."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Remove documents and all their chunks."""
    from ragtune.console import console

    with open_store(get_settings()) as store:
        removed = store.remove(doc_ids, namespace=namespace)
    if as_json:
        print(json.dumps({"removed_documents": len(set(doc_ids)), "removed_chunks": removed}))
    else:
        console.print(f"removed {len(set(doc_ids))} documents ({removed} chunks)")


@index_app.command("list")
def list_documents(
    namespace: str = typer.Option(None, "--namespace", "-n", help="Only this namespace."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List indexed documents."""
    with open_store(get_settings(), read_only=True) as store:
        documents = store.list_documents(namespace)
    if as_json:
        print(json.dumps({"documents": [d.model_dump(mode="json") for d in documents]}, indent=2, ensure_ascii=False))
        return
    from rich.table import Table

    from ragtune.console import console

    table = Table("doc_id", "namespace", "chunks", "title", "source", "added")
    for d in documents:
        table.add_row(d.doc_id, d.namespace, str(d.chunks), d.title, d.source, d.added_at.strftime("%Y-%m-%d %H:%M"))
    console.print(table)
    console.print(f"{len(documents)} documents")


@index_app.command("search")
def search(
    query: str = typer.Argument(..., help="What to look for."),
    k: int = typer.Option(4, "-k", "--k", help="How many chunks."),
    namespace: str = typer.Option("default", "--namespace", "-n", help="Tenant namespace."),
    mode: str = typer.Option(None, "--mode", help="dense | bm25 | hybrid (default: settings)."),
    filters: list[str] = typer.Option(None, "--filter", help="Metadata filter key=value (repeatable)."),
    local: bool = typer.Option(False, "--local", help="Search the index here even when a gateway runs."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Search the index; best chunks first. A gateway running here answers it (with its loaded
    embedder) unless --local, --mode or --filter is given."""
    from types import SimpleNamespace

    settings = get_settings()
    fields = ("doc_id", "chunk_id", "title", "section", "source", "text", "score")  # what a script needs
    remote = None if (local or mode or filters) else gateway_search(settings, query, k, namespace)
    if remote is not None:
        via, results = remote
        hits: list[Any] = [SimpleNamespace(**{"dense_score": None, **r}) for r in results]
        rows = [{f: r.get(f) for f in fields} for r in results]
    else:
        via = None
        with open_store(settings, read_only=True) as store:
            hits = store.search(
                query, k=k, namespace=namespace, filters=parse_meta(filters) or None, mode=cast("SearchMode", mode)
            )
        rows = [h.model_dump(include=set(fields)) for h in hits]
    if as_json:
        print(json.dumps({"results": rows}, indent=2, ensure_ascii=False))
        return
    from ragtune.console import console

    if via:
        console.print(f"[dim](answered by the gateway at {via}; --local to search the index here)[/]")
    for rank, hit in enumerate(hits, 1):
        dense = f" cosine {hit.dense_score:.3f}" if hit.dense_score is not None else ""
        console.print(
            f"[bold][{rank}][/] score {hit.score:.4f}{dense}  {hit.title}"
            f"{' › ' + hit.section if hit.section else ''}  [dim]{hit.source}[/]"
        )
        console.print(f"    {hit.text[:300]}{'…' if len(hit.text) > 300 else ''}")
    if not hits:
        console.print("no results")


@index_app.command("stats")
def stats(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """What the index holds: documents, chunks, namespaces, size on disk."""
    with open_store(get_settings(), read_only=True) as store:
        info = store.stats()
    if as_json:
        print(info.model_dump_json(indent=2))
        return
    from ragtune.console import console

    console.print(
        f"documents {info.documents}  chunks {info.chunks}  index {info.index_kind}  "
        f"embedder {info.embedder} ({info.dimension} dims)  "
        f"disk {info.disk_bytes / 1e6:.1f} MB  generation {info.generation}"
    )
    for namespace, count in info.namespaces.items():
        console.print(f"  {namespace}: {count} documents")


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root CLI."""
    app.add_typer(index_app, name="index")

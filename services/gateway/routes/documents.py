"""``POST /v1/documents`` (upload and index), ``GET /v1/documents``, ``DELETE /v1/documents/{doc_id}``.

Every call works in the caller's namespace; the next query sees the change.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile

from ragtune.errors import NotFoundError, RagtuneError
from ragtune.jsonlimits import JSONLimitError, loads_bounded
from ragtune.names import NAME_PATTERN
from services.gateway.errors import ERROR_RESPONSES, InputLimitError, PayloadTooLargeError
from services.gateway.routes.audit import record_action
from services.gateway.routes.deps import documents_caller, get_state
from services.gateway.schemas import DocumentDeleted, DocumentList, DocumentsAdded
from services.gateway.state import GatewayState
from services.gateway.tenants import Tenant

router = APIRouter(tags=["documents"])
MAX_FILES = 32
MAX_METADATA_CHARS = 64_000
"""Longest ``metadata`` form field accepted (its nesting is bounded by ``ragtune.jsonlimits``)."""


def parse_metadata(raw: str | None) -> dict[str, Any] | None:
    """The ``metadata`` form field: a JSON object of scalars, or nothing."""
    if raw is None or not raw.strip():
        return None
    if len(raw) > MAX_METADATA_CHARS:
        raise InputLimitError(f"metadata is over the {MAX_METADATA_CHARS}-character limit")
    try:
        value = loads_bounded(raw, what="metadata")
    except JSONLimitError as exc:
        raise InputLimitError(str(exc)) from None
    except ValueError:
        raise InputLimitError("metadata must be a JSON object") from None
    if not isinstance(value, dict):
        raise InputLimitError("metadata must be a JSON object")
    return value


def _failure(report: Any) -> RagtuneError | None:
    """An error for a report in which every document failed (the first failure's status)."""
    outcomes = getattr(report, "documents", [])
    if outcomes and all(o.status == "failed" for o in outcomes):
        error = RagtuneError(f"{outcomes[0].source}: {outcomes[0].reason}")
        error.status_code = outcomes[0].status_code or 400
        return error
    return None


@router.post("/v1/documents", response_model=DocumentsAdded, status_code=201, responses=ERROR_RESPONSES)
async def add_documents(
    files: list[UploadFile] = File(..., description="Documents to index (txt, md, html, pdf, json…)."),
    namespace: str | None = Form(None, pattern=NAME_PATTERN),
    metadata: str | None = Form(None, description="A JSON object stored with each document."),
    tenant: Tenant = Depends(documents_caller),
    state: GatewayState = Depends(get_state),
) -> DocumentsAdded:
    """Upload and index documents; a document already present under the same name is replaced."""
    store = state.index.require()
    target = tenant.namespace_for(namespace)
    extra = parse_metadata(metadata)
    if len(files) > MAX_FILES:
        raise InputLimitError(f"at most {MAX_FILES} files per upload")
    limit = state.settings.index.max_document_bytes
    reports = []
    for upload in files:
        name = (upload.filename or "").strip()
        if not name:
            raise InputLimitError("every uploaded file needs a file name (its extension picks the format)")
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise PayloadTooLargeError(f"{name} is over the {limit}-byte document limit")
        report = await state.index.write(store.add_bytes, name, data, namespace=target, metadata=extra)
        for outcome in report.documents:
            if outcome.status != "failed":
                detail = {"namespace": target, "file": name, "status": outcome.status, "chunks": outcome.chunks}
                await record_action(state, tenant, "document.add", outcome.doc_id or name, detail)
        failure = _failure(report)
        if failure is not None and len(files) == 1:
            raise failure
        reports.append(report.model_dump(mode="json"))
    return DocumentsAdded(namespace=target, reports=reports)


@router.get("/v1/documents", response_model=DocumentList, responses=ERROR_RESPONSES)
async def list_documents(
    namespace: str | None = Query(None, pattern=NAME_PATTERN),
    tenant: Tenant = Depends(documents_caller),
    state: GatewayState = Depends(get_state),
) -> DocumentList:
    """The documents stored in the caller's namespace."""
    store = state.index.require()
    target = tenant.namespace_for(namespace)
    documents = await state.index.run(store.list_documents, namespace=target)
    return DocumentList(namespace=target, documents=[d.model_dump(mode="json") for d in documents])


@router.delete("/v1/documents/{doc_id}", response_model=DocumentDeleted, responses=ERROR_RESPONSES)
async def delete_document(
    doc_id: str = Path(min_length=1, max_length=200),
    namespace: str | None = Query(None, pattern=NAME_PATTERN),
    tenant: Tenant = Depends(documents_caller),
    state: GatewayState = Depends(get_state),
) -> DocumentDeleted:
    """Remove a document and its chunks from the caller's namespace."""
    store = state.index.require()
    target = tenant.namespace_for(namespace)
    documents = await state.index.run(store.list_documents, namespace=target)
    if not any(d.doc_id == doc_id for d in documents):
        raise NotFoundError(f"no document '{doc_id}' in namespace '{target}'")
    await state.index.write(store.remove, [doc_id], namespace=target)
    await record_action(state, tenant, "document.delete", doc_id, {"namespace": target})
    return DocumentDeleted(namespace=target, doc_id=doc_id, deleted=True)

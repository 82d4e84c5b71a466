"""``GET /v1/search``: the best chunks of the caller's namespace for a query, without generation.

What ``ragtune index search`` asks a running gateway, so the CLI need not load the embedder (and
torch) for one query: the gateway has it loaded already.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from ragtune.names import NAME_PATTERN
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.routes.deps import chat_caller, get_state
from services.gateway.schemas import SearchResults
from services.gateway.state import GatewayState
from services.gateway.tenants import Tenant

router = APIRouter(tags=["documents"])


@router.get("/v1/search", response_model=SearchResults, responses=ERROR_RESPONSES)
async def search(
    q: str = Query(min_length=1, max_length=2000, description="What to look for."),
    k: int = Query(4, ge=1, le=50, description="How many chunks."),
    namespace: str | None = Query(None, pattern=NAME_PATTERN, description="Namespace (default: the key's)."),
    tenant: Tenant = Depends(chat_caller),
    state: GatewayState = Depends(get_state),
) -> SearchResults:
    """The ``k`` best chunks for ``q`` (the configured retrieval), best first."""
    hits = await state.index.search(q, k=k, namespace=tenant.namespace_for(namespace))
    return SearchResults(results=[h.model_dump() for h in hits])

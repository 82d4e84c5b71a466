"""``GET /`` (the web page) and the folder of its static files (mounted by the app at ``/static``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from ragtune.errors import NotFoundError

router = APIRouter(tags=["web"])
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
"""The page's HTML, CSS and JavaScript (package data of ``services.gateway``)."""


@router.get("/", include_in_schema=False)
async def index_page() -> FileResponse:
    page = STATIC_DIR / "index.html"
    if not page.is_file():
        raise NotFoundError("the web page is not installed (services/gateway/static/index.html)")
    return FileResponse(page)

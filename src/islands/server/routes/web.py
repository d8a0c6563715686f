"""The web page at `/`: the Vite build of web/ (chat, tree, flow editor, memory browser).

`make` builds it into islands/server/static/ (git-ignored); without a build, `/` says how to
make one. The page is one HTML file and its /assets/; it talks to the API routes only.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

from islands.server.errors import ApiError

__all__ = ["STATIC", "router"]

router = APIRouter()
STATIC = Path(__file__).resolve().parent.parent / "static"
_MISSING = """<!doctype html><title>islands</title><h1>islands</h1>
<p>The web page is not built. Build it with <code>make web</code> (needs npm), then reload.</p>
<p>The API is at <a href="/v1/models">/v1</a>.</p>"""


@router.get("/", response_model=None, include_in_schema=False)
async def index() -> Response:
    page = STATIC / "index.html"
    if not page.is_file():
        return HTMLResponse(_MISSING, status_code=503)
    return FileResponse(page, headers={"Cache-Control": "no-cache"})


@router.get("/assets/{name:path}", include_in_schema=False)
async def asset(name: str) -> FileResponse:
    root = (STATIC / "assets").resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise ApiError(404, f"no asset {name!r}", "not_found")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=31536000, immutable"})

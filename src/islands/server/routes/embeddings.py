"""POST /v1/embeddings: vectors from the memory embedder (the one `--memory` recall uses),
as floats or base64 (little-endian float32, what the `openai` client asks for).

The embedder loads on the first request, off the event loop; a server started with
`--embedder none` (or without the embed extra) answers 400.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import numpy as np
from fastapi import APIRouter, Request

from islands.errors import InvalidInput
from islands.memory.embed import Embedder, embedder_from
from islands.server.errors import ApiError
from islands.server.schemas import EmbeddingRequest
from islands.server.state import ServerState, state_of

__all__ = ["router"]

router = APIRouter()
MAX_INPUTS = 256


async def _embedder(state: ServerState) -> Embedder:
    if state.memory is not None and state.memory.embedder is not None and state.embedder in (None, "auto"):
        return state.memory.embedder
    try:
        found = await asyncio.to_thread(embedder_from, state.embedder)
    except InvalidInput as e:
        raise ApiError(400, str(e), param="model") from None
    if found is None:
        raise ApiError(400, "this server has no embedder (start it with --embedder minilm or hash; minilm needs the embed extra)",
                       "embeddings_unavailable", "model")
    return found


@router.post("/v1/embeddings")
async def embeddings(request: Request) -> dict[str, Any]:
    state = state_of(request)
    req = await state.parse(request, EmbeddingRequest)
    texts = [req.input] if isinstance(req.input, str) else req.input
    if not texts or len(texts) > MAX_INPUTS or any(not isinstance(t, str) or not t for t in texts):
        raise ApiError(400, f"input must be a non-empty string or a list of 1 to {MAX_INPUTS} non-empty strings", param="input")
    embedder = await _embedder(state)
    if req.model not in (None, "", "islands", embedder.name):
        raise ApiError(404, f"embedding model {req.model!r} not found; this server has {embedder.name!r}", "model_not_found", "model")
    if req.dimensions is not None and req.dimensions != embedder.dim:
        raise ApiError(400, f"dimensions: {embedder.name} gives {embedder.dim}", param="dimensions")
    vectors = np.asarray(await asyncio.to_thread(embedder.embed, texts), dtype="<f4")
    data = []
    for i, row in enumerate(vectors):
        vector: Any = base64.b64encode(row.tobytes()).decode() if req.encoding_format == "base64" else [float(x) for x in row]
        data.append({"object": "embedding", "index": i, "embedding": vector})
    words = sum(len(t.split()) for t in texts)  # the embedder's own tokens are not counted: words stand in
    return {"object": "list", "data": data, "model": embedder.name, "usage": {"prompt_tokens": words, "total_tokens": words}}

"""Upload a video, a voice recording or a photo, get six emotion scores (overall and per second) back."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError

from mmer_api.deps import ServiceDep, SettingsDep, require_api_key
from mmer_api.inference import ACCEPTED, DEFAULT_SAMPLE_FRAMES, PHOTOS
from mmer_api.schemas import ErrorResponse, Prediction

router = APIRouter(prefix="/infer", tags=["inference"], dependencies=[Depends(require_api_key)])


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("`empty`: the uploaded file has no bytes."),
    401: _error("`unauthorized`: missing or wrong X-API-Key (only when the service has a key); answered "
                "before the body is read."),
    408: _error("`upload_timeout`: the upload arrived too slowly (see `MMER_UPLOAD_MIN_KIB_S`)."),
    413: _error("`too_large`: the upload is over the size limit (see GET / `limits`)."),
    415: _error(f"`unsupported_media_type` / `not_video`: not a file this model reads ({ACCEPTED} are accepted, "
                f"and {PHOTOS} by the default model); answered from the file's first bytes."),
    422: _error("`invalid_request` (bad parameters, not multipart, no `file` part), `undecodable`, `too_long`, "
                "`too_short`, `frame_too_large` (also a photo over `limits.max_photo_pixels`, or a decompression "
                "bomb: refused from its header), `no_signal` (no face and no voice to score)."),
    503: _error("`busy`: every slot is taken; retry after the `Retry-After` header's seconds. Answered before "
                "the body is read."),
    504: _error("`timeout`: the analysis ran past the service's deadline and was stopped."),
}
#: The body the routes read themselves (streamed to disk, see app/upload.py), described as FastAPI would.
UPLOAD_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "title": "Upload", "required": ["file"],
    "properties": {"file": {
        "type": "string", "contentMediaType": "application/octet-stream", "title": "File",
        "description": f"The video or audio file ({ACCEPTED}), or {PHOTOS} (the default model reads it as a "
                       "one-second still with its face expert); its name and type are ignored."}},
}}}}}


def sample_frames_param(
    settings: SettingsDep,
    sample_frames: Annotated[int, Query(ge=1, description="Frames to analyse, spread evenly over the clip "
                                        "(at most `limits.max_sample_frames` of GET /, 256 by default).")]
    = DEFAULT_SAMPLE_FRAMES,
) -> int:
    # The upper bound is configurable at start-up, so it is checked here rather than baked into Query().
    top = settings.max_sample_frames
    if sample_frames > top:
        raise RequestValidationError([{
            "type": "less_than_equal", "loc": ("query", "sample_frames"),
            "msg": f"Input should be less than or equal to {top}", "input": sample_frames, "ctx": {"le": top},
        }])
    return sample_frames


@router.post("", response_model=Prediction, responses=ERRORS, summary="Emotion of a video, over time",
             openapi_extra=UPLOAD_BODY)
async def infer(request: Request, service: ServiceDep,
                sample_frames: Annotated[int, Depends(sample_frames_param)]) -> dict[str, Any]:
    return await service.predict_upload(request.receive, request.headers.get("content-type"), sample_frames)


@router.post("/predict", response_model=Prediction, responses=ERRORS, openapi_extra=UPLOAD_BODY,
             summary=f"Emotion of a video (sample_frames={DEFAULT_SAMPLE_FRAMES})")
async def predict(request: Request, service: ServiceDep) -> dict[str, Any]:
    return await service.predict_upload(request.receive, request.headers.get("content-type"), DEFAULT_SAMPLE_FRAMES)

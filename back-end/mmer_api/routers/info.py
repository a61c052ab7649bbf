"""What is being served, and the liveness probes that load balancers and compose health checks poll."""

from __future__ import annotations

from fastapi import APIRouter, Depends

import mmer
from mmer.labels import EMOTIONS
from mmer_api.deps import ServiceDep, SettingsDep, require_api_key
from mmer_api.inference import DEFAULT_SAMPLE_FRAMES
from mmer_api.schemas import EmotionClass, ErrorResponse, Health, Limits, Message, ModelInfo, ServiceInfo

router = APIRouter(tags=["service"])


@router.get("/", response_model=ServiceInfo, summary="Service, model and limits",
            dependencies=[Depends(require_api_key)],
            responses={401: {"model": ErrorResponse, "description": "Missing or wrong X-API-Key."}})
def service_info(settings: SettingsDep, service: ServiceDep) -> ServiceInfo:
    model = service.info()
    return ServiceInfo(
        name="mmer",
        version=mmer.__version__,
        model=ModelInfo.model_validate(model),
        classes=[EmotionClass(abbr=e.abbr, name=e.name) for e in EMOTIONS],
        modalities=list(model["modalities"]),
        photos=bool(getattr(service.predictor, "reads_photos", False)),
        limits=Limits(max_upload_mb=settings.max_upload_mb, max_duration_s=settings.max_duration_s,
                      min_duration_s=settings.min_duration_s, max_pixels=settings.max_pixels,
                      max_photo_pixels=settings.max_photo_pixels,
                      max_sample_frames=settings.max_sample_frames, default_sample_frames=DEFAULT_SAMPLE_FRAMES),
        auth=settings.api_key is not None,
    )


@router.get("/ping", response_model=Message, summary="Liveness check")
def ping() -> Message:
    return Message(message="pong")


@router.get("/health", response_model=Health, summary="Health check (the model is loaded)")
def health() -> Health:
    # The app only starts serving once the lifespan has loaded the model, so answering means healthy.
    return Health()

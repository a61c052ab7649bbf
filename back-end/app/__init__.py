"""The mmer HTTP service: a thin FastAPI layer over :mod:`mmer.predictor`.

Started from ``back-end/`` as ``uvicorn app.main:app``. Decoding, face cropping and the model all
live in the library, so the service answers exactly what training saw (no second copy here).
"""

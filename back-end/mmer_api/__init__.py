"""The mmer HTTP service: a thin FastAPI layer over :mod:`mmer.predictor`.

Installed with the library (``pip install 'mmer[serve]'``; the package lives in ``back-end/`` of
the repository) and started as ``mmer serve`` or ``uvicorn mmer_api.main:app`` from anywhere.
Decoding, face cropping and the model all live in the library, so the service answers exactly what
training saw (no second copy here).
"""

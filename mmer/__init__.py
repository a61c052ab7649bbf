"""mmer: multimodal (face + voice) emotion recognition."""

__version__ = "0.1.0"

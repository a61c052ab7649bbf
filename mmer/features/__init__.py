"""Video and audio backbones behind one small interface, and the feature cache."""

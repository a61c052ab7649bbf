"""A face-expression network trained here (issue 22): FER2013's faces with the FER+ votes as targets.

:mod:`mmer.face_expert.model` holds the network, :mod:`mmer.face_expert.train` the recipe (targets
from the votes, webcam-like augmentation from :mod:`mmer.faces.augment`, resumable epochs, the
checkpoint chosen on PublicTest).
"""

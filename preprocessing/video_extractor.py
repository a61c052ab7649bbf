"""Video features for every clip of a manifest (seed name). Same as `mmer extract-video`:

    python preprocessing/video_extractor.py MANIFEST --bboxes extracted_bboxes -o . --backbone vivit|fer
"""

from mmer.seed_scripts import passthrough

if __name__ == "__main__":
    passthrough("extract-video")

"""Audio features for every clip of a manifest (seed name). Same as `mmer extract-audio`:

    python preprocessing/voice_extractor.py MANIFEST --audio extracted_audio -o . --backbone wav2vec2|logmel
"""

from mmer.seed_scripts import passthrough

if __name__ == "__main__":
    passthrough("extract-audio")

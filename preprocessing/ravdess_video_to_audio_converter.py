"""Audio tracks of every ravdess clip (seed name). Same as `mmer audio` with ravdess's defaults."""

from mmer.seed_scripts import script

if __name__ == "__main__":
    script("ravdess", "audio")

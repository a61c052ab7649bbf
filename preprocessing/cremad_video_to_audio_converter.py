"""Audio tracks of every cremad clip (seed name). Same as `mmer audio` with cremad's defaults."""

from mmer.seed_scripts import script

if __name__ == "__main__":
    script("cremad", "audio")

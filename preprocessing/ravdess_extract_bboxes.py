"""Face boxes for every ravdess clip (seed name). Same as `mmer faces` with ravdess's folders."""

from mmer.seed_scripts import script

if __name__ == "__main__":
    script("ravdess", "faces")

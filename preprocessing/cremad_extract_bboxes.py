"""Face boxes for every cremad clip (seed name). Same as `mmer faces` with cremad's folders."""

from mmer.seed_scripts import script

if __name__ == "__main__":
    script("cremad", "faces")

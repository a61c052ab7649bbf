"""Face boxes → fixed-size face-crop clips for cremad (seed name). Same as `mmer crop`."""

from mmer.seed_scripts import script

if __name__ == "__main__":
    script("cremad", "crop")

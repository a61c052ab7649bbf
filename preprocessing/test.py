"""Check a feature cache (seed name). Same as `mmer validate ROOT [--manifest M]`."""

from mmer.seed_scripts import passthrough

if __name__ == "__main__":
    passthrough("validate")

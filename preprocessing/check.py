"""What this machine can run (seed name). Same as `mmer check`."""

from mmer.seed_scripts import passthrough

if __name__ == "__main__":
    passthrough("check")

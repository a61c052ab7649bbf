"""Evaluate a checkpoint (seed layout). Same as `mmer evaluate CHECKPOINT --features ROOT --manifest M`."""

from mmer.seed_scripts import passthrough

if __name__ == "__main__":
    passthrough("evaluate")

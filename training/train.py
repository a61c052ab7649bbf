"""Train the fusion model (seed name). Same as `mmer train` (see `mmer train --help`), e.g.

    python training/train.py --manifest data/manifest.csv --features data/features --epochs 50 \\
        --batch-size 32 --learning-rate 1e-4
"""

from mmer.seed_scripts import passthrough

if __name__ == "__main__":
    passthrough("train")

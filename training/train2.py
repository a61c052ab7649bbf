"""Train with interpretability (seed name): `mmer train` that also saves per-clip attention weights
(attention.jsonl) and writes its runs to training_runs_2/, as the seed's train2.py did."""

from mmer.seed_scripts import passthrough

if __name__ == "__main__":
    passthrough("train", ["--save-attention", "--output", "training_runs_2"])

"""Measurements of the embedded experts on real labelled corpora (library side of `mmer benchmark`)."""

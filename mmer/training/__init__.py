"""Training the fusion model on the feature cache, and evaluating it actor-independently."""

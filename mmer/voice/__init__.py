"""The voice expert: VAD, log-mel input, network, training recipe and the shipped model."""

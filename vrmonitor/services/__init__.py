"""The service monitor: detect, decide, act."""

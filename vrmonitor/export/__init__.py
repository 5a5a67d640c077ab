"""Prometheus textfile export."""

"""The fleet simulation (`make fleet`): docs/monitoring.md, docs/benchmarks.md."""

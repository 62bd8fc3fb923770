"""benchmarks/ must not rot: each script's tiny run, asserting counts, never times."""

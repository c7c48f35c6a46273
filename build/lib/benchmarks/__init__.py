"""Benchmarks of the pipeline against the model's own speed, measured side by side in one run."""

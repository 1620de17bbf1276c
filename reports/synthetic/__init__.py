"""Synthetic run directories: by hand for tests (`builder`), at scale for benchmarks (`generator`)."""

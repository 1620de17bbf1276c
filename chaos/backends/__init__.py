"""Cluster backends: where the replica set under test runs."""

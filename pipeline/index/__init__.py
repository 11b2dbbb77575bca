"""How hashes group: Hamming distances, the exact multi-index join, the
matching rule and connected components, incremental updates, and query by
example."""

"""The template's own Python helpers: make demo, and what the tests and the benchmark share."""

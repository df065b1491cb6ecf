"""A deterministic generator of realistic demo referentials (XS for `make run`, S and L for benchmarks)."""

"""Builders for tests and benchmarks only: tiny models from configs, nothing the product imports."""

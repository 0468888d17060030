"""The demo: deterministic synthetic data (`seed`) and `make demo` (`run`)."""

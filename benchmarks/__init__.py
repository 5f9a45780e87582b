"""The benchmark scripts. Run each as `python benchmarks/NAME.py`; tests import the ones they
check as `benchmarks.NAME` (the repository root is on pytest's path).
"""

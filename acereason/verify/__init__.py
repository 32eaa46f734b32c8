"""Verifiers: rule-based math answer checking and sandboxed code judging.

This package must never import torch: it runs inside veRL reward workers and process pools.
"""

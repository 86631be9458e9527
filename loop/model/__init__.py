"""Gaussian-process surrogates fitted to comp-rep data."""

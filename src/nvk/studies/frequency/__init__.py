"""Frequency study: kernels and networks under gradient descent, per harmonic frequency."""

"""Measurement: architectures, meters, training harness, sweeps and the run store."""

"""Energy meters behind one Protocol: RAPL, NVML, external trace, estimate, replay."""

from measurement.meters.base import EnergyMeter, MeterError, MeterKind, MeterPermissionError, MeterUnavailable, Reading

__all__ = ["EnergyMeter", "MeterError", "MeterKind", "MeterPermissionError", "MeterUnavailable", "Reading"]

"""The CPU simulation backend (numpy + numba), bit-exact with the Lava fixed_pt models."""

from neuromorphic_export.cpu.simulator import CPUSimulator, LayerState, SimulationResult

__all__ = ["CPUSimulator", "LayerState", "SimulationResult"]

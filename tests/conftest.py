"""Test-wide settings: no hypothesis deadlines (the machine is shared: a slow example is load,
not a failure; timing is measured by the benchmarks in tools/, not by tests)."""
from hypothesis import settings

settings.register_profile("orbitfs", deadline=None)
settings.load_profile("orbitfs")

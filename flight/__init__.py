"""orbitfs flight software: executive, components, wire protocol and payload.

Sub-packages import downward only: ``wire`` (packets, services, dictionary) knows nothing of the
executive; ``components`` build on ``component``; the ``executive`` assembles a topology.
"""

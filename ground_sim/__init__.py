"""orbitfs ground simulator: the other end of the link.

``link`` (ZeroMQ sockets) -> ``decoder`` (TM into named values) -> ``station`` (state: commands
and their verification, telemetry, events, products; the archive) -> ``api`` (the scenario API
for tests and scripts) -> ``console``, ``sil`` (the main job) and the pytest plugin.
"""

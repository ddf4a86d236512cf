"""Flight components: services (comms, dispatcher, parameters, health, housekeeping, executive
control, rate groups) and the payload (camera, inference)."""

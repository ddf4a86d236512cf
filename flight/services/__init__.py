"""Services: what every flight needs around its payload. Comms (the link to the ground), the
command dispatcher, the event log, housekeeping, health, the parameter keeper and executive
control."""

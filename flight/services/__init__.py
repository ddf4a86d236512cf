"""Services: what every flight needs around its payload. Comms (the link to the ground), the
command dispatcher, the event log, housekeeping, health, the parameter keeper and executive
control; and what lets it fly unattended: on-board monitoring (ST[12]), event-actions (ST[19])
and the flight's mode (NOMINAL, SAFE)."""

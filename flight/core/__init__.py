"""The core: the component model, typed ports and their wiring, roles, the catalog of ids, the
topology loader, the clock, rate groups and the executive. It knows no mission and imports no
other layer of flight; they import it."""

"""Radiation protection: protected memory regions and unprotected buffers, the scrubber, the SEU
injector, and the TMR parameter store."""

"""Radiation protection: protected memory regions, scrubbing, SEU injection."""

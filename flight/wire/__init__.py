"""The wire: CCSDS Space Packets with ECSS PUS-C headers, service payloads, and the dictionary.

Shared by the flight and the ground simulator; imports nothing from the executive.
"""

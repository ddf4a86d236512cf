"""The wire: CCSDS Space Packets with ECSS PUS-C headers, service payloads, and the mission
dictionary. Shared by the flight and the ground simulator; imports only the core and the
messages."""

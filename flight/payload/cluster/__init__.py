"""Multi-card inference: card workers, balancing policies, power and thermal models, voting."""

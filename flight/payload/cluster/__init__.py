"""The multi-card inference cluster: the flight component (component.py), its engine (engine.py)
and the engine's parts: the card supervisor, the scheduler with its balancing policies, the
voter, the power manager; the card process handle (card_process.py), its link and protocol, and
the card worker process (card_worker.py); shared-memory slots and live weights; the in-orbit
model update (model_update.py: commands and slots, model_slots.py, model_validation.py;
model_swap.py: canary, commit and rollback in the engine)."""

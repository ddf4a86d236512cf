"""orbitfs flight software, in layers that import only downward (checked by tests/unit/test_layers.py).

- ``core``: the component model, typed ports, wiring, roles, the catalog of ids, the topology
  loader, the clock, rate groups and the executive. It knows no mission and imports no other
  layer.
- ``messages``: what components send each other through their ports (imports the core only).
- ``environment``: the orbit, the battery and power budget, the cards' thermal model (imports
  the core only, for its settings' declarations).
- ``wire``: CCSDS space packets, PUS-C services, the mission dictionary (the core and messages).
- ``protection``: protected memory regions, the scrubber, the SEU injector, the TMR parameter store.
- ``payload``: the camera, the inference cluster (engine, card supervisor, scheduler, voter,
  power manager, card process handle, card worker), scenes and detections; never the services.
- ``services``: comms, the transmitter (passes, from the environment), the command dispatcher,
  the event log, housekeeping, health, parameters, executive control, on-board monitoring,
  event-actions and the flight's mode.
- the application: ``app`` (the composition root: the default topology, the dictionary, the
  executive), ``__main__`` (``orbitfs-flight``), ``dictionary_cli`` (``orbitfs-dict``),
  ``cli_common`` (the options every entry point shares) and ``testing`` (the component tester).
"""

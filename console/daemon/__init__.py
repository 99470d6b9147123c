"""The daemon: a process that owns a project's engine and serves the control API (docs/control-api.md).

``process`` runs it (lock, pid file, signals), ``server`` is the aiohttp API, ``hub`` numbers and
fans out the engine's events, ``runs`` starts and stops runs, ``paths`` says where it all lives,
``cli`` holds the ``daemon``, ``status`` and ``stop`` commands. The console's side is console/client.py.
"""

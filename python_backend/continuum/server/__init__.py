"""The ZeroMQ bridge to engine plugins (bridge/PROTOCOL.md).

- ``codec``     the logical message ``[kind, header, blobs]`` and its frames
- ``zmtp``      ZMTP 3.1 framing in plain Python: the reference for vectors and raw-peer tests
- ``protocol``  version, limits, error codes
- ``session``   per-connection state: handshake, rate budget
- ``app``       the asyncio server: ROUTER for requests, PUB for the state stream
- ``physics_service``  the ``physics.*`` requests, the ``poses`` frames and ``physics.event``
  pushes around the server's simulation
"""

"""Continuum: a persistent world model for generative media.

The backend holds the world as explicit state and serves it to an engine plugin over ZeroMQ.
Subpackages, each with one job (dependencies point inward, nothing imports ``server``):

- ``world``   the world state and its scene format
- ``splats``  Gaussian clouds: the type, files, rendering (CPU and CUDA), fitting, meshes
- ``server``  the ZeroMQ bridge: message codec, ZMTP reference framing, sessions, the server
- ``bench``   ``continuum bench NAME`` benchmarks
"""

__version__ = "0.1.0"

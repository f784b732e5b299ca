"""MuJoCo physics: the world's dynamics (P), assembled from the scene and stepped in a thread.

Scenes and every public value use glTF axes (+Y up, quaternions x, y, z, w); only ``_axes``
converts to and from MuJoCo's Z-up.

Public names:
- ``Simulation``: assembly, a stepping thread at a fixed dt paced to real time, pause / resume /
  step, controls, queries, add / remove / modify while running, divergence resets, save_state /
  load_state / replay (``simulation``; the saved dict is described in ``state_io``)
- ``replay_physics``: a persistent world's poses at any tick, from its store (``replay``)
- ``PhysicsConfig``: its settings with documented defaults (``config``)
- ``PoseFrame``, ``PhysicsEvent``: the pose snapshot and the events it gives out (``stream``)
- ``BodyParams``, ``JointParams``, ``body_params``, ``joint_params``: the physics and joint
  components, checked (``components``)
- ``contact_params``: restitution -> MuJoCo contact parameters (``assembly``)
- ``convex_hull``, ``convex_decomposition``, ``ConvexPart``: mesh colliders (``colliders``)
- ``make_pile``, ``body_entity``, ``ground``: scenes built in code for benchmarks and tests
  (``scenes``)
"""

from continuum.physics.assembly import contact_params
from continuum.physics.colliders import ConvexPart, convex_decomposition, convex_hull
from continuum.physics.components import BodyParams, JointParams, body_params, joint_params
from continuum.physics.config import PhysicsConfig
from continuum.physics.replay import replay_physics
from continuum.physics.scenes import body_entity, ground, make_pile
from continuum.physics.simulation import Simulation
from continuum.physics.stream import PhysicsEvent, PoseFrame

__all__ = [
    "BodyParams",
    "ConvexPart",
    "JointParams",
    "PhysicsConfig",
    "PhysicsEvent",
    "PoseFrame",
    "Simulation",
    "body_entity",
    "body_params",
    "contact_params",
    "convex_decomposition",
    "convex_hull",
    "ground",
    "joint_params",
    "make_pile",
    "replay_physics",
]

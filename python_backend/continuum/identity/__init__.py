"""Identity memory (I): each recurring entity's stored embeddings and reference appearance,
updated adaptively, retrieved and re-identified rather than re-derived.

Public names:
- ``IdentityBank``, ``BankConfig``, ``Slot``, ``Update``: one entity's slots and the adaptive
  update rule (novelty- and confidence-gated insert, weighted merge, diverse eviction), drift,
  retrieval (``bank``)
- ``Identities``, ``Recognition``: every bank of a world, re-identification over all of them in
  one product, the events that persist them (``registry``)
"""

from continuum.identity.bank import BankConfig, IdentityBank, Slot, Update
from continuum.identity.registry import Identities, Recognition

__all__ = ["BankConfig", "Identities", "IdentityBank", "Recognition", "Slot", "Update"]

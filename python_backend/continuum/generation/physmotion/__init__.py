"""Physics-controlled motion: trajectory diffusion conditioned on physical parameters, aligned
by RL with a reward from MuJoCo re-simulation ("throw it harder, make it bouncier").

Public names (the scenarios here; the rest from their modules, which load MuJoCo or torch):
- ``SCENARIOS``, ``SCENARIO_NAMES``, ``Scenario``, ``Param``, ``check_params``,
  ``sample_params``, ``start_state``, ``condition``: the scenario families (drop, throw, ramp,
  collide) and their physical parameters (``scenarios``)
- ``data.rollout``, ``data.Rollout``, ``data.make_dataset``, ``data.Dataset``: MuJoCo rollouts
  through ``continuum.physics`` and data sets of them
- ``flight.free_flight``: each body's free flight kept out of the surfaces, the model's guide
- ``model.PhysMotionModel``, ``model.ModelConfig``, ``model.TrajectoryDenoiser``: the model,
  a folder (``from_pretrained`` / ``save_pretrained``)
- ``train.pretrain``, ``train.TrainConfig``: pre-training on rollouts
- ``reward.reward_terms``, ``reward.reward_tensor``, ``reward.RewardTerms``,
  ``reward.RewardConfig``: how physical a motion is against its re-simulation (the terms, and
  the reward as a differentiable tensor)
- ``align.align``, ``align.AlignConfig``, ``align.AlignLog``: RL alignment (reward gradients
  through the sampler, anchored to the pre-trained model, the best on validation kept)
- ``slot_model.load_physmotion``: a model folder as the motion slot's model (``models.load_model``
  dispatches folders with physmotion.json to it)
"""

from continuum.generation.physmotion.scenarios import (
    SCENARIO_NAMES,
    SCENARIOS,
    Param,
    Scenario,
    check_params,
    condition,
    sample_params,
    start_state,
)

__all__ = [
    "SCENARIOS",
    "SCENARIO_NAMES",
    "Param",
    "Scenario",
    "check_params",
    "condition",
    "sample_params",
    "start_state",
]

"""Environments: noise wrappers and seeded (noisy) vectorised env factories (ids may be "module:id")."""

from wnrl.envs.make import MinAtarObservation, make_eval_env, make_vec_env, sync_normalization
from wnrl.envs.noise import (
    NOISE_ORDER,
    GaussianActionNoise,
    GaussianObservationNoise,
    GaussianRewardNoise,
    ObservationDropout,
    RewardSignFlip,
    StickyActions,
    apply_noise,
    check_noise_kwargs,
)
from wnrl.envs.registration import (
    EnvError,
    MissingExtraError,
    UnknownEnvError,
    ensure_registered,
    env_family,
    env_slug,
    import_env_module,
)

__all__ = [
    "GaussianObservationNoise",
    "ObservationDropout",
    "GaussianRewardNoise",
    "RewardSignFlip",
    "StickyActions",
    "GaussianActionNoise",
    "apply_noise",
    "check_noise_kwargs",
    "NOISE_ORDER",
    "EnvError",
    "UnknownEnvError",
    "env_slug",
    "MissingExtraError",
    "import_env_module",
    "env_family",
    "ensure_registered",
    "MinAtarObservation",
    "make_vec_env",
    "make_eval_env",
    "sync_normalization",
]

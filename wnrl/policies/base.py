"""What every normalized SB3 policy shares: the normalization options, the choice of a normalized
features extractor, an orthogonal init that reaches weight-norm layers, data-dependent init, the
projection after optimizer steps, and the fast optimizer default (:mod:`wnrl.policies.speed`).

Used as a mixin before the SB3 policy class (``class NormDQNPolicy(NormPolicyMixin, DQNPolicy)``);
:class:`SB3Policy` states what the mixin uses from that class.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, TypeVar, cast

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.type_aliases import PyTorchObs
from torch import nn

from wnrl.nn import WeightNormMixin, data_dependent_init, project_weight_norm_
from wnrl.policies.extractors import (
    NORMALIZED_IMAGE_EXTRACTORS,
    MinAtarCNN,
    NormCombinedExtractor,
    NormNatureCNN,
    default_extractor,
)
from wnrl.policies.layers import WEIGHT_NORMS, check_norm
from wnrl.policies.spaces import batch_size
from wnrl.policies.speed import arm_fused_check, make_optimizer, optimizer_impl
from wnrl.registry import PROJECTED_NORMS

__all__ = ["NormPolicyMixin", "SB3Policy"]

#: wnrl's extractors, which take ``norm``.
NORM_EXTRACTORS = (NormNatureCNN, MinAtarCNN, NormCombinedExtractor)

_NetArch = TypeVar("_NetArch")

#: The packages whose policy classes wnrl's policies derive from.
_SB3_PACKAGES = ("stable_baselines3", "sb3_contrib")


def sb3_policy_class(cls: type) -> type:
    """The SB3 (or sb3-contrib) policy class that the wnrl policy class ``cls`` derives from.

    :param cls: a wnrl policy class (e.g. ``NormSACPolicy``: ``SACPolicy``)
    """
    return next(c for c in cls.__mro__ if c.__module__.partition(".")[0] in _SB3_PACKAGES)


@functools.cache
def init_parameters(cls: type) -> frozenset[str]:
    """The names of ``cls``'s ``__init__`` arguments.

    :param cls: a class
    """
    return frozenset(inspect.signature(cls).parameters)


class SB3Policy(Protocol):
    """The part of an SB3 ``BasePolicy`` that :class:`NormPolicyMixin` uses."""

    optimizer: torch.optim.Optimizer
    optimizer_class: type[torch.optim.Optimizer]
    optimizer_kwargs: dict[str, Any]
    training: bool
    observation_space: spaces.Space
    normalize_images: bool
    features_extractor_class: type[BaseFeaturesExtractor]
    features_extractor_kwargs: dict[str, Any]

    @property
    def device(self) -> torch.device: ...

    def set_training_mode(self, mode: bool) -> None: ...

    def obs_to_tensor(self, observation: np.ndarray | dict[str, np.ndarray]) -> tuple[PyTorchObs, bool]: ...

    def register_buffer(self, name: str, tensor: torch.Tensor | None, persistent: bool = True) -> None: ...

    def parameters(self, recurse: bool = True) -> Any: ...


class NormPolicyMixin:
    """Normalization options shared by wnrl policies (set by :meth:`_init_norm`)."""

    norm: str
    norm_output: bool
    data_init_enabled: bool
    init_scale: float
    init_batch: int
    fast_optimizer: bool
    data_init_done: torch.Tensor  # a buffer, registered by _after_build
    #: A CNN chosen for ``net_arch=None`` gets ``net_arch=[]`` (:meth:`_norm_extractor_args`); the
    #: off-policy policies keep SB3's default instead.
    cnn_default_net_arch: ClassVar[bool] = True

    def _sb3_args(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """Store wnrl's options (:meth:`_init_options`) and return the SB3 policy's ``__init__``
        arguments, with a normalized features extractor unless one was chosen
        (:meth:`_norm_extractor_args`).

        :param args: the policy's ``__init__`` arguments, its ``locals()`` on entry: SB3's
            (passed on) and wnrl's keyword-only options (not passed on unless SB3 takes them too,
            as CrossQ's batch-renorm settings)
        """
        self._init_options(args)
        taken = init_parameters(sb3_policy_class(type(self)))
        sb3 = {k: v for k, v in args.items() if k in taken}
        net_arch = sb3["net_arch"] if self.cnn_default_net_arch else None
        extractor, extractor_kwargs, net_arch = self._norm_extractor_args(
            sb3["observation_space"],
            sb3["features_extractor_class"],
            sb3["features_extractor_kwargs"],
            net_arch,
            sb3["normalize_images"],
        )
        sb3.update(features_extractor_class=extractor, features_extractor_kwargs=extractor_kwargs)
        if self.cnn_default_net_arch:
            sb3["net_arch"] = net_arch
        return sb3

    def _init_options(self, args: Mapping[str, Any]) -> None:
        """:meth:`_init_norm` with the policy's ``__init__`` arguments (as :meth:`_sb3_args`)."""
        self._init_norm(
            args["norm"],
            args["norm_output"],
            args["data_init"],
            args["init_scale"],
            args["init_batch"],
            args["fast_optimizer"],
        )

    def _init_norm(
        self,
        norm: str,
        norm_output: bool,
        data_init: bool | None,
        init_scale: float,
        init_batch: int,
        fast_optimizer: bool = True,
    ) -> None:
        """Check and store the options (before SB3's ``__init__``, which builds the networks).

        :param norm: ``none``, ``batch``, ``layer``, ``weight``, ``weight_meanbn`` or ``weight_proj``
        :param norm_output: also weight-normalize the output heads (default: plain heads)
        :param data_init: data-dependent init before the first update; ``None`` means on for the
            weight-norm family and off otherwise (``True`` with ``none`` gives the plain network the
            same init, as the paper's baseline)
        :param init_scale: target std of the pre-activations after data-dependent init
        :param init_batch: number of observations used for data-dependent init (at least 2)
        :param fast_optimizer: create the optimizer with ``fused=True`` (or ``foreach=True``) unless
            ``optimizer_kwargs`` sets either (:mod:`wnrl.policies.speed`)
        """
        self.norm = check_norm(norm)
        self.norm_output = bool(norm_output)
        self.data_init_enabled = self.norm in WEIGHT_NORMS if data_init is None else bool(data_init)
        self.init_scale = float(init_scale)
        self.init_batch = int(init_batch)
        if self.init_batch < 2:
            raise ValueError(f"init_batch must be at least 2, got {self.init_batch}")
        self.fast_optimizer = bool(fast_optimizer)

    # -- speed: the optimizer default, a cached device ------------------------------------------
    def _make_optimizer(self, params: Any, lr: float) -> torch.optim.Optimizer:
        """The policy's optimizer: ``optimizer_class(params, lr=lr, **optimizer_kwargs)``, fused
        (or foreach) unless the user chose (:func:`~wnrl.policies.speed.make_optimizer`)."""
        policy = self._policy
        return make_optimizer(policy.optimizer_class, params, lr, policy.optimizer_kwargs, self.fast_optimizer)

    def _optimizers(self) -> list[torch.optim.Optimizer]:
        """The policy's optimizers (one here; SAC, TD3 and CrossQ have one per network)."""
        optimizer = self.__dict__.get("optimizer")
        return [optimizer] if isinstance(optimizer, torch.optim.Optimizer) else []

    @property
    def optimizer_impl(self) -> str:
        """The optimizer's implementation: ``fused``, ``foreach`` or ``default`` (torch's choice)."""
        optimizers = self._optimizers()
        if not optimizers:
            raise AttributeError("optimizer_impl: the policy has no optimizer yet")
        return optimizer_impl(optimizers[0])

    @property
    def device(self) -> torch.device:
        """SB3's ``device`` (that of the first parameter), without walking the module tree on every
        call: the parameter is remembered until the next ``.to()`` / ``load_state_dict``."""
        param = self.__dict__.get("_device_param")
        if param is None:
            param = next(iter(self._policy.parameters()), None)
            if param is None:
                return torch.device("cpu")
            self.__dict__["_device_param"] = param  # not a registration: nn.Module's __setattr__ is bypassed
        return cast(torch.device, param.device)

    def _apply(self, fn: Any, recurse: bool = True) -> Any:
        self.__dict__.pop("_device_param", None)
        out = cast(Any, super())._apply(fn, recurse)
        for optimizer in self._optimizers():
            arm_fused_check(optimizer)  # new devices: check the fused kernels take them
        return out

    def _forget_device(self, *args: Any) -> None:
        self.__dict__.pop("_device_param", None)

    def _norm_extractor_args(
        self,
        observation_space: spaces.Space,
        features_extractor_class: type[BaseFeaturesExtractor] | None,
        features_extractor_kwargs: dict[str, Any] | None,
        net_arch: _NetArch | None,
        normalize_images: bool = True,
    ) -> tuple[type[BaseFeaturesExtractor], dict[str, Any] | None, _NetArch | list[int] | None]:
        """SB3's ``features_extractor_class``, ``features_extractor_kwargs`` and ``net_arch``, with
        a normalized extractor for the space unless one was chosen (:func:`default_extractor`).

        A CNN chosen here gets no hidden layers between its dense layer and the heads unless
        ``net_arch`` is given (as SB3 does for ``NatureCNN``); ``Dict`` spaces keep SB3's default
        ``net_arch`` (as ``MultiInputPolicy``). The kwargs stay the user's
        (:meth:`make_features_extractor` adds ``norm``).

        :param observation_space: the policy's observation space
        :param features_extractor_class: the user's extractor, or ``None`` to choose one
        :param features_extractor_kwargs: the user's extractor arguments
        :param net_arch: the user's network architecture
        :param normalize_images: the policy's ``normalize_images``
        """
        if features_extractor_class is not None:
            return features_extractor_class, features_extractor_kwargs, net_arch
        extractor = default_extractor(observation_space, normalize_images)
        if extractor in (NormNatureCNN, MinAtarCNN) and net_arch is None:
            return extractor, features_extractor_kwargs, []
        return extractor, features_extractor_kwargs, net_arch

    def make_features_extractor(self) -> BaseFeaturesExtractor:
        """SB3's ``make_features_extractor``; wnrl's extractors also get the policy's ``norm``
        (unless ``features_extractor_kwargs`` sets it) and, with ``normalize_images=False``, SB3's
        ``normalized_image=True`` (as SB3 does for ``NatureCNN`` and ``CombinedExtractor``)."""
        policy = self._policy
        cls, kwargs = policy.features_extractor_class, policy.features_extractor_kwargs
        if issubclass(cls, NORM_EXTRACTORS):
            kwargs = {"norm": self.norm, **kwargs}
            if not policy.normalize_images and issubclass(cls, NORMALIZED_IMAGE_EXTRACTORS):
                kwargs["normalized_image"] = True
        return cls(policy.observation_space, **kwargs)

    @property
    def _policy(self) -> SB3Policy:
        """This object as the SB3 policy the mixin is mixed into."""
        return cast(SB3Policy, self)

    def _norm_constructor_parameters(self) -> dict[str, Any]:
        return dict(
            norm=self.norm,
            norm_output=self.norm_output,
            data_init=self.data_init_enabled,
            init_scale=self.init_scale,
            init_batch=self.init_batch,
        )

    def _after_build(self) -> None:
        """Called at the end of ``_build`` (the optimizer exists)."""
        # Persisted with the policy so a loaded (or resumed) model is never re-initialised.
        self._policy.register_buffer("data_init_done", torch.tensor(not self.data_init_enabled))
        cast(nn.Module, self).register_load_state_dict_post_hook(self._forget_device)  # assign=True swaps params
        if self.norm in PROJECTED_NORMS:
            project_weight_norm_(self._normalized_networks())
            self._policy.optimizer.register_step_post_hook(self._project_after_step)

    def _project_after_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        project_weight_norm_(self._normalized_networks())

    @staticmethod
    def init_weights(module: nn.Module, gain: float = 1) -> None:
        """SB3's orthogonal init, extended to weight-norm layers: the orthogonal matrix is written
        into ``v`` and ``g = ‖w_i‖``, so the effective weight is exactly SB3's (writing into the
        computed ``weight`` would be silently lost)."""
        if isinstance(module, WeightNormMixin):
            w = torch.empty_like(module.v)
            nn.init.orthogonal_(w, gain=gain)
            module.reset_from_weight(w)
        elif isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.orthogonal_(module.weight, gain=gain)
        else:
            return
        if module.bias is not None:
            with torch.no_grad():
                module.bias.zero_()

    # -- data-dependent init ------------------------------------------------------------------
    def _normalized_networks(self) -> nn.Module:
        """The module holding the trained networks (the DQN policy excludes its target)."""
        raise NotImplementedError

    def _ddi_forward(self, obs: PyTorchObs) -> None:
        """Run features extractors and hidden layers (not the heads) on preprocessed ``obs``."""
        raise NotImplementedError

    def _ddi_skip(self) -> list[nn.Module]:
        """Output heads: never data-initialised."""
        raise NotImplementedError

    @property
    def needs_data_init(self) -> bool:
        """Whether data-dependent init is enabled and has not run yet."""
        return not bool(self.data_init_done)

    def data_init(self, observations: np.ndarray | dict[str, np.ndarray] | PyTorchObs) -> list[str]:
        """Data-dependent init of every normalized feature-extractor and hidden layer on a batch
        of observations (as the environment returns them), sequentially in forward order.

        Layers keep the effective weight direction they had (e.g. SB3's orthogonal init); only
        their scale ``g`` and bias are set. Heads are left untouched.

        :param observations: a batch of observations, first dimension the batch: arrays (or dicts
            of arrays) go through SB3's ``obs_to_tensor`` (image transposition, ``Discrete`` shapes),
            tensors (or dicts of tensors) are taken as SB3's buffers hold them
        :return: names of the initialised layers
        """
        policy = self._policy
        obs: PyTorchObs
        if isinstance(observations, torch.Tensor):
            obs = observations.to(policy.device)
        elif isinstance(observations, dict) and all(isinstance(v, torch.Tensor) for v in observations.values()):
            obs = {k: torch.as_tensor(v, device=policy.device) for k, v in observations.items()}
        else:
            arrays = dict(observations) if isinstance(observations, dict) else np.asarray(observations)
            obs, _ = policy.obs_to_tensor(cast(np.ndarray | dict[str, np.ndarray], arrays))
        was_training = policy.training
        policy.set_training_mode(True)  # statistics as seen in updates
        try:
            names = data_dependent_init(
                self._normalized_networks(),
                obs,
                init_scale=self.init_scale,
                skip=self._ddi_skip(),
                include_plain=self.norm not in WEIGHT_NORMS,
                forward_fn=lambda _, batch: self._ddi_forward(batch),
            )
        finally:
            policy.set_training_mode(was_training)
        if self.norm in PROJECTED_NORMS:
            project_weight_norm_(self._normalized_networks())
        self.data_init_done.fill_(True)
        self._after_data_init()
        return names

    def _after_data_init(self) -> None:
        """Hook for copies that must follow the init (the DQN target network)."""

    def _fallback_data_init(self, observations: PyTorchObs, require_grad: bool = True) -> None:
        """Run data-dependent init on the first training minibatch when no
        :class:`~wnrl.policies.DataInitCallback` did it before learning started.

        :param observations: the minibatch's observations (as SB3's buffers hold them)
        :param require_grad: only when autograd is on (a loss is being computed), so that a
            forward pass under ``no_grad`` in training mode (e.g. an evaluation) does not initialise
        """
        if self.needs_data_init and (torch.is_grad_enabled() or not require_grad):
            warnings.warn(
                f"{type(self).__name__}: data-dependent init ran on the first training minibatch "
                f"({batch_size(observations)} observations) because learn() was called without "
                "wnrl.policies.DataInitCallback; pass callback=DataInitCallback() to initialise "
                "before the first rollout",
                RuntimeWarning,
                stacklevel=3,
            )
            self.data_init(observations)

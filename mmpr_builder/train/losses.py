"""The MPO loss terms: small pure functions on summed response log-probs.

Every function takes tensors of shape ``(batch,)``: the policy's and the
reference model's log-probabilities of each response, summed over the
response tokens (no length normalisation, as in the MPO reference trainer and
TRL). ``chosen_logps[i]`` and ``rejected_logps[i]`` belong to the same prompt.
Per-pair functions return the per-pair loss, shape ``(batch,)``;
:func:`mpo_loss` returns the batch means.

MPO (Wang et al., "Enhancing the Reasoning Ability of Multimodal Large Language
Models via Mixed Preference Optimization", arXiv 2411.10442, section 3.2) is

    L = w_p * L_p + w_q * L_q + w_g * L_g

with L_p the DPO sigmoid loss, L_q the BCO pair loss and L_g the SFT loss;
paper weights 0.8 / 0.2 / 1.0 and beta 0.1. TRL writes this as
``loss_type=["sigmoid", "bco_pair", "sft"]`` with ``loss_weights`` (trl#5089).

The BCO reward shift ``delta`` is a running mean of past rewards; its state
lives in :class:`RewardBaseline`, which the trainer updates once per optimizer
step and saves in checkpoints (see ``mpo_trainer.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from mmpr_builder.errors import ConfigError
from mmpr_builder.registry import Registry

MPO_LOSS_TYPE = ("sigmoid", "bco_pair", "sft")
MPO_LOSS_WEIGHTS = (0.8, 0.2, 1.0)


def dpo_sigmoid_loss(chosen_logps: torch.Tensor, rejected_logps: torch.Tensor,
                     ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor,
                     beta: float = 0.1) -> torch.Tensor:
    """DPO preference loss, per pair: ``-log s(beta * ((pi_c - ref_c) - (pi_r - ref_r)))``.

    Source: Rafailov et al. 2023, eq. 7 (arXiv 2305.18290); MPO's L_p; TRL
    ``DPOTrainer`` ``loss_type="sigmoid"`` (no label smoothing).

    Args:
        chosen_logps, rejected_logps: policy summed log-probs, ``(batch,)``.
        ref_chosen_logps, ref_rejected_logps: reference summed log-probs, ``(batch,)``.
        beta: KL strength.
    Returns:
        Per-pair loss, ``(batch,)``, in nats.
    """
    logits = (chosen_logps - ref_chosen_logps) - (rejected_logps - ref_rejected_logps)
    return -F.logsigmoid(beta * logits)


def bco_pair_loss(chosen_logps: torch.Tensor, rejected_logps: torch.Tensor,
                  ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor,
                  beta: float = 0.1, delta: float | torch.Tensor = 0.0) -> torch.Tensor:
    """BCO pair loss, per pair: ``-log s(beta*(pi_c - ref_c) - delta) - log s(-(beta*(pi_r - ref_r) - delta))``.

    ``delta`` is the reward shift: the running mean of past rewards
    (:class:`RewardBaseline`), treated as a constant (no gradient). ``delta=0``
    gives TRL >= 0.29's ``bco_pair``, which dropped the shift.

    Source: Jung et al. 2024, "Binary Classifier Optimization" (arXiv
    2404.04656), eq. 9-11; MPO's L_q; TRL ``bco_pair`` up to v0.28.

    Args:
        chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps: ``(batch,)``.
        beta: KL strength.
        delta: reward shift, a float or 0-d tensor (detached here).
    Returns:
        Per-pair loss, ``(batch,)``, in nats.
    """
    if isinstance(delta, torch.Tensor):
        delta = delta.detach()
    chosen_rewards = beta * (chosen_logps - ref_chosen_logps)
    rejected_rewards = beta * (rejected_logps - ref_rejected_logps)
    return -F.logsigmoid(chosen_rewards - delta) - F.logsigmoid(-(rejected_rewards - delta))


def sft_loss(chosen_logps: torch.Tensor, chosen_lengths: torch.Tensor) -> torch.Tensor:
    """Generation (SFT) loss, per pair: the chosen response's token NLL averaged over its tokens.

    ``-log pi(y_c | x) / |y_c|``, computed once per pair from the same summed
    log-probs that feed the preference terms. Source: MPO's L_g (arXiv
    2411.10442, eq. 5). TRL's ``sft`` term averages over all chosen tokens of
    the batch instead (token-weighted); the two agree when the batch holds one
    pair or all chosen responses have the same length.

    Args:
        chosen_logps: policy summed log-probs of the chosen responses, ``(batch,)``.
        chosen_lengths: number of chosen response tokens, ``(batch,)``, each >= 1.
    Returns:
        Per-pair loss, ``(batch,)``, in nats per token.
    """
    return -chosen_logps / chosen_lengths.to(chosen_logps.dtype).clamp(min=1)


@dataclass(frozen=True)
class LossInputs:
    """What a loss term may read: the batch's summed log-probs (``(batch,)`` each) and the settings."""

    chosen_logps: torch.Tensor
    rejected_logps: torch.Tensor
    ref_chosen_logps: torch.Tensor
    ref_rejected_logps: torch.Tensor
    chosen_lengths: torch.Tensor | None
    beta: float
    delta: float | torch.Tensor


def _sigmoid_term(x: LossInputs) -> torch.Tensor:
    return dpo_sigmoid_loss(x.chosen_logps, x.rejected_logps, x.ref_chosen_logps, x.ref_rejected_logps, x.beta)


def _bco_pair_term(x: LossInputs) -> torch.Tensor:
    return bco_pair_loss(x.chosen_logps, x.rejected_logps, x.ref_chosen_logps, x.ref_rejected_logps, x.beta, x.delta)


def _sft_term(x: LossInputs) -> torch.Tensor:
    if x.chosen_lengths is None:
        raise ConfigError("the sft loss needs chosen_lengths (token counts of the chosen responses)")
    return sft_loss(x.chosen_logps, x.chosen_lengths)


#: The loss terms by TRL name: each maps :class:`LossInputs` to the per-pair loss, ``(batch,)``.
LOSS_TERMS: Registry[Callable[[LossInputs], torch.Tensor]] = Registry(
    "loss type", {"sigmoid": _sigmoid_term, "bco_pair": _bco_pair_term, "sft": _sft_term},
    error=ConfigError, cutoff=0.5)
LOSS_TYPES = tuple(LOSS_TERMS.names())


def check_loss_config(loss_type: Sequence[str], loss_weights: Sequence[float] | None) -> tuple[list[str], list[float]]:
    """Validate ``loss_type`` / ``loss_weights`` (TRL's list convention) and return them as lists.

    ``loss_weights=None`` means weight 1.0 per term, as in TRL.

    Raises:
        ConfigError: empty list, unknown or repeated loss type (with a "did you
            mean"), ``len(loss_weights) != len(loss_type)``, or a negative or
            non-finite weight.
    """
    types = [loss_type] if isinstance(loss_type, str) else list(loss_type)
    if not types:
        raise ConfigError("loss_type is empty; MPO is loss_type=['sigmoid', 'bco_pair', 'sft']")
    for name in types:
        LOSS_TERMS.check(name)
    if len(set(types)) != len(types):
        raise ConfigError(f"loss_type lists a term twice: {types}")
    weights = [1.0] * len(types) if loss_weights is None else [float(w) for w in loss_weights]
    if len(weights) != len(types):
        raise ConfigError(f"loss_weights has {len(weights)} entries but loss_type has {len(types)} "
                          f"({types}); give one weight per loss type, e.g. loss_weights=[0.8, 0.2, 1.0]")
    for name, w in zip(types, weights):
        if not (w >= 0.0 and w != float("inf")):
            raise ConfigError(f"loss weight for {name!r} must be a finite number >= 0, got {w}")
    return types, weights


def weighted_sum(terms: Sequence[Any], loss_weights: Sequence[float]) -> Any:
    """``sum_k loss_weights[k] * terms[k]`` for scalars or same-shape tensors.

    Raises:
        ConfigError: the two lists differ in length (never broadcast silently).
    """
    if len(terms) != len(loss_weights):
        raise ConfigError(f"{len(loss_weights)} loss weights for {len(terms)} loss terms")
    total = 0.0
    for term, weight in zip(terms, loss_weights):
        total = total + weight * term
    return total


@dataclass
class MPOLossOutput:
    """Result of :func:`mpo_loss`.

    Attributes:
        loss: weighted total, 0-d tensor (differentiable).
        terms: batch mean of each term by loss type name, 0-d tensors (differentiable).
        chosen_rewards, rejected_rewards: ``beta * (pi - ref)``, ``(batch,)``, detached.
    """

    loss: torch.Tensor
    terms: dict[str, torch.Tensor]
    chosen_rewards: torch.Tensor
    rejected_rewards: torch.Tensor


def mpo_loss(chosen_logps: torch.Tensor, rejected_logps: torch.Tensor,
             ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor,
             chosen_lengths: torch.Tensor | None = None, *, beta: float = 0.1,
             loss_type: Sequence[str] = MPO_LOSS_TYPE, loss_weights: Sequence[float] | None = MPO_LOSS_WEIGHTS,
             delta: float | torch.Tensor = 0.0) -> MPOLossOutput:
    """The MPO objective: ``sum_k w_k * mean_batch(term_k)`` over the listed loss types.

    Defaults are the paper's: sigmoid (DPO) 0.8, bco_pair 0.2, sft 1.0, beta 0.1
    (arXiv 2411.10442, section 3.2 and 4.1).

    Args:
        chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps: ``(batch,)``.
        chosen_lengths: chosen response token counts, ``(batch,)``; needed for ``sft``.
        beta: KL strength.
        loss_type: terms among ``sigmoid``, ``bco_pair``, ``sft``.
        loss_weights: one weight per term (``None`` = all 1.0).
        delta: BCO reward shift (see :func:`bco_pair_loss`).
    Returns:
        :class:`MPOLossOutput`.
    Raises:
        ConfigError: bad ``loss_type``/``loss_weights`` (:func:`check_loss_config`),
            or ``sft`` without ``chosen_lengths``.
    """
    types, weights = check_loss_config(loss_type, loss_weights)
    inputs = LossInputs(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, chosen_lengths, beta, delta)
    terms = {name: LOSS_TERMS.get(name)(inputs).mean() for name in types}
    with torch.no_grad():
        chosen_rewards = beta * (chosen_logps - ref_chosen_logps).detach()
        rejected_rewards = beta * (rejected_logps - ref_rejected_logps).detach()
    return MPOLossOutput(weighted_sum(list(terms.values()), weights), terms, chosen_rewards, rejected_rewards)


class RewardBaseline:
    """BCO's reward shift ``delta``: the count-weighted running mean of all rewards seen.

    A reward is ``beta * (pi - ref)`` of one response; chosen and rejected
    rewards both count (as in TRL <= 0.28's ``bco_pair``, which fed
    ``cat(chosen_rewards, rejected_rewards)`` to ``RunningMoments``). Unlike
    TRL, which weighs each micro-batch's mean as one sample, every reward
    counts once, so the mean does not depend on how a step is split into
    micro-batches.

    Use: :meth:`accumulate` the rewards of each micro-batch of an optimizer
    step, then :meth:`commit` once (this all-reduces the step's sum and count
    over ranks when ``torch.distributed`` is initialised, so every rank holds
    the same ``delta``). :meth:`update` does both. Rewards accumulated but not
    committed do not change :attr:`mean`.

    Source: Jung et al. 2024 (arXiv 2404.04656), section 3.2 (reward shift
    as a moving average); the step-level update fixes trl#7265 (the shift was
    updated and read per micro-batch, so gradient accumulation changed the
    gradient).
    """

    def __init__(self) -> None:
        self.sum = 0.0
        self.count = 0
        self._pending_sum = 0.0
        self._pending_count = 0
        self._device: torch.device | None = None

    @property
    def mean(self) -> float:
        """Current ``delta`` (0.0 before any commit)."""
        return self.sum / self.count if self.count else 0.0

    def accumulate(self, rewards: torch.Tensor) -> None:
        """Add a micro-batch's rewards (any shape) to the pending step; not yet visible in :attr:`mean`."""
        rewards = rewards.detach()
        self._pending_sum += float(rewards.double().sum())
        self._pending_count += rewards.numel()
        self._device = rewards.device

    def commit(self) -> float:
        """Fold the pending rewards of this step (all ranks) into the mean; returns the new ``delta``.

        Every rank must call it at the same point (it is a collective when
        ``torch.distributed`` is initialised).
        """
        pending = [self._pending_sum, float(self._pending_count)]
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            device = self._device if self._device is not None else torch.device("cpu")
            if torch.distributed.get_backend() == "nccl" and device.type != "cuda":
                device = torch.device("cuda", torch.cuda.current_device())
            buf = torch.tensor(pending, dtype=torch.float64, device=device)
            torch.distributed.all_reduce(buf)
            pending = buf.tolist()
        self.sum += pending[0]
        self.count += int(round(pending[1]))
        self._pending_sum, self._pending_count = 0.0, 0
        return self.mean

    def update(self, rewards: torch.Tensor) -> float:
        """:meth:`accumulate` then :meth:`commit`; returns the new ``delta``."""
        self.accumulate(rewards)
        return self.commit()

    def state_dict(self) -> dict[str, float | int]:
        """``{"sum", "count", "mean"}`` (JSON-serialisable); pending rewards are not saved."""
        return {"sum": self.sum, "count": self.count, "mean": self.mean}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`; drops pending rewards.

        Raises:
            ValueError: ``sum`` or ``count`` missing, or a negative count.
        """
        if "sum" not in state or "count" not in state or int(state["count"]) < 0:
            raise ValueError(f"not a RewardBaseline state: {state!r}")
        self.sum = float(state["sum"])
        self.count = int(state["count"])
        self._pending_sum, self._pending_count = 0.0, 0

"""The MPO loss terms against hand-computed values, the bug-report cases, and TRL's own code path."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from mmpr_builder.errors import ConfigError
from mmpr_builder.train.losses import (RewardBaseline, bco_pair_loss, check_loss_config, dpo_sigmoid_loss,
                                       mpo_loss, sft_loss, weighted_sum)
from testlib import known_failures

def _t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def _softplus(x: float) -> float:  # -log s(x) = log(1 + e^-x)
    return math.log1p(math.exp(-x))


# pair 0: pi_c=-10, ref_c=-12, pi_r=-15, ref_r=-14 -> chosen ratio +2, rejected ratio -1
# pair 1: pi_c=-20, ref_c=-19, pi_r=-8,  ref_r=-10 -> chosen ratio -1, rejected ratio +2
PI_C, PI_R, REF_C, REF_R = _t(-10, -20), _t(-15, -8), _t(-12, -19), _t(-14, -10)


def test_dpo_sigmoid_by_hand():
    got = dpo_sigmoid_loss(PI_C, PI_R, REF_C, REF_R, beta=0.1)
    assert got.tolist() == pytest.approx([_softplus(0.1 * 3), _softplus(0.1 * -3)])
    assert got[0].item() == pytest.approx(0.5543552, abs=1e-6)


def test_bco_pair_by_hand_with_and_without_shift():
    got = bco_pair_loss(PI_C, PI_R, REF_C, REF_R, beta=0.1, delta=0.05)
    want0 = _softplus(0.2 - 0.05) + _softplus(-(-0.1 - 0.05))
    want1 = _softplus(-0.1 - 0.05) + _softplus(-(0.2 - 0.05))
    assert got.tolist() == pytest.approx([want0, want1])
    no_shift = bco_pair_loss(PI_C, PI_R, REF_C, REF_R, beta=0.1)
    assert no_shift[0].item() == pytest.approx(_softplus(0.2) + _softplus(0.1))


def test_bco_shift_carries_no_gradient():
    pi_c = PI_C.clone().requires_grad_(True)
    delta = torch.tensor(0.3, requires_grad=True)
    bco_pair_loss(pi_c, PI_R, REF_C, REF_R, delta=delta).sum().backward()
    assert delta.grad is None and pi_c.grad is not None


def test_sft_is_token_mean_of_chosen_nll():
    assert sft_loss(_t(-12.0, -3.0), torch.tensor([4, 1])).tolist() == [3.0, 3.0]


def test_mpo_loss_is_the_weighted_sum_with_paper_defaults():
    out = mpo_loss(PI_C, PI_R, REF_C, REF_R, torch.tensor([5, 10]), delta=0.05)
    dpo = (_softplus(0.3) + _softplus(-0.3)) / 2
    bco = (_softplus(0.15) + _softplus(0.15) + _softplus(-0.15) + _softplus(-0.15)) / 2
    sft = (10 / 5 + 20 / 10) / 2
    assert out.terms["sigmoid"].item() == pytest.approx(dpo)
    assert out.terms["bco_pair"].item() == pytest.approx(bco)
    assert out.terms["sft"].item() == pytest.approx(sft)
    assert out.loss.item() == pytest.approx(0.8 * dpo + 0.2 * bco + 1.0 * sft)
    assert out.chosen_rewards.tolist() == pytest.approx([0.2, -0.1])
    assert out.rejected_rewards.tolist() == pytest.approx([-0.1, 0.2])


def test_mpo_loss_custom_terms_and_weights():
    out = mpo_loss(PI_C, PI_R, REF_C, REF_R, loss_type=["sigmoid"], loss_weights=[2.0], beta=0.5)
    assert list(out.terms) == ["sigmoid"]
    assert out.loss.item() == pytest.approx(2.0 * (_softplus(1.5) + _softplus(-1.5)) / 2)
    with pytest.raises(ConfigError, match="chosen_lengths"):
        mpo_loss(PI_C, PI_R, REF_C, REF_R, loss_type=["sft"], loss_weights=[1.0])


@pytest.mark.parametrize("types, weights, match", [
    (["sigmoid", "bco_pair", "sft"], [0.8, 0.2], "2 entries but loss_type has 3"),
    (["sigmoid", "bco_pair"], [0.8, 0.2, 1.0], "3 entries but loss_type has 2"),
    (["sigmod"], [1.0], "did you mean 'sigmoid'"),
    (["sft", "sft"], [1.0, 1.0], "twice"),
    (["sft"], [-1.0], ">= 0"),
    ([], None, "empty"),
])
def test_bad_loss_config_raises(types, weights, match):
    with pytest.raises(ConfigError, match=match):
        check_loss_config(types, weights)


def test_loss_weights_none_means_one_each():
    assert check_loss_config(["sigmoid", "sft"], None) == (["sigmoid", "sft"], [1.0, 1.0])


# ----- cases from tests/data/known_failures.jsonl (area mpo-loss) -----
CASES = {c["id"]: c for c in known_failures("mpo-loss")}


def test_case_mpo_weighted_sum():
    case = CASES["mpo-weighted-sum"]
    types, weights = check_loss_config(case["input"]["loss_type"], case["input"]["loss_weights"])
    assert weighted_sum(case["input"]["component_losses"], weights) == pytest.approx(case["expected"])
    with pytest.raises(ConfigError):
        weighted_sum(case["input"]["component_losses"], weights[:2])
    with pytest.raises(ConfigError):
        check_loss_config(types, weights[:2])


def test_case_bco_baseline_is_updated_once_per_step():
    case = CASES["bco-grad-accum-baseline"]
    baseline = RewardBaseline()  # "running_mean_state": "empty"
    for rewards in case["input"]["microbatch_rewards"]:
        baseline.accumulate(torch.tensor(rewards))
        assert baseline.mean == 0.0  # pending rewards are not visible before the step commits
    baseline.commit()
    used = [baseline.mean for _ in case["input"]["microbatch_rewards"]]
    assert used == case["expected"]["baseline_used_by_each_microbatch"]


def test_baseline_is_count_weighted_and_round_trips():
    b = RewardBaseline()
    b.update(torch.tensor([1.0, 1.0, 1.0]))
    b.update(torch.tensor([5.0]))
    assert b.mean == pytest.approx(2.0) and b.count == 4
    state = b.state_dict()
    c = RewardBaseline()
    c.load_state_dict(state)
    assert (c.sum, c.count, c.mean) == (b.sum, b.count, b.mean)
    with pytest.raises(ValueError):
        c.load_state_dict({"mean": 1.0})


# ----- cross-check against TRL's DPOTrainer._compute_loss on the same log-probs -----
def _trl_loss(per_token: torch.Tensor, mask: torch.Tensor, ref_c, ref_r, loss_type, loss_weights, beta=0.1):
    """Run TRL 1.x's own ``DPOTrainer._compute_loss`` with a stub model that returns ``per_token`` log-probs.

    ``per_token``: (2B, T-1) next-token log-probs, ``mask``: (2B, T) completion mask, batch [chosen; rejected].
    """
    from trl.trainer.dpo_trainer import DPOTrainer

    zeros = torch.zeros_like(per_token)
    outputs = SimpleNamespace(log_probs=per_token, entropy=zeros, mean_logits=zeros, is_top1=zeros.bool())
    accelerator = SimpleNamespace(gather_for_metrics=lambda x: x, gather=lambda x: x, device=torch.device("cpu"))
    fake = SimpleNamespace(model=SimpleNamespace(training=True), accelerator=accelerator, aux_loss_enabled=False,
                           ld_alpha=None, precompute_ref_logps=True, f_divergence_type="reverse_kl", beta=beta,
                           loss_types=loss_type, loss_weights=loss_weights, use_weighting=False, label_smoothing=0.0,
                           _metrics=defaultdict(lambda: defaultdict(list)), _total_train_tokens=0, _tp_size=1)
    inputs = {"input_ids": torch.zeros(mask.shape, dtype=torch.long), "attention_mask": torch.ones_like(mask),
              "completion_mask": mask, "ref_chosen_logps": ref_c, "ref_rejected_logps": ref_r}
    return DPOTrainer._compute_loss(fake, lambda **kw: outputs, inputs, False)


def _random_batch(lengths: list[int], prompt: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    T = prompt + max(lengths)
    mask = torch.zeros(len(lengths), T, dtype=torch.long)
    for i, n in enumerate(lengths):
        mask[i, prompt: prompt + n] = 1
    per_token = -torch.rand(len(lengths), T - 1, generator=g, dtype=torch.float64) * 3 * mask[:, 1:]
    logps, n_tokens = per_token.sum(-1), mask.sum(-1)
    B = len(lengths) // 2
    ref = logps + torch.randn(2 * B, generator=g, dtype=torch.float64) * 4
    return per_token, mask, logps[:B], logps[B:], ref[:B], ref[B:], n_tokens[:B]


@pytest.mark.parametrize("loss_type, loss_weights", [
    (["sigmoid"], [1.0]), (["bco_pair"], [1.0]), (["sigmoid", "bco_pair", "sft"], [0.8, 0.2, 1.0])])
def test_matches_trl_on_same_logps(loss_type, loss_weights):
    # batch of 1 pair for sft (TRL averages sft over all chosen tokens of the batch, we per pair first)
    for lengths in ([5, 7], [4, 6, 4, 9, 3, 3, 2, 5] if "sft" not in loss_type else [6, 2]):
        per_token, mask, pi_c, pi_r, ref_c, ref_r, n_c = _random_batch(lengths)
        trl = _trl_loss(per_token, mask, ref_c, ref_r, loss_type, loss_weights)
        ours = mpo_loss(pi_c, pi_r, ref_c, ref_r, n_c, loss_type=loss_type, loss_weights=loss_weights, delta=0.0)
        assert ours.loss.item() == pytest.approx(trl.item(), rel=1e-9)


def test_sft_differs_from_trl_only_in_batch_averaging():
    per_token, mask, pi_c, pi_r, ref_c, ref_r, n_c = _random_batch([2, 8, 5, 5])  # chosen lengths 2 and 8
    trl = _trl_loss(per_token, mask, ref_c, ref_r, ["sft"], [1.0]).item()
    ours = mpo_loss(pi_c, pi_r, ref_c, ref_r, n_c, loss_type=["sft"], loss_weights=[1.0]).loss.item()
    assert trl == pytest.approx(-pi_c.sum().item() / 10)  # TRL: token-weighted over the batch
    assert ours == pytest.approx((-pi_c[0].item() / 2 - pi_c[1].item() / 8) / 2)  # paper: per pair, then mean
    assert ours != pytest.approx(trl)


def _rank_worker(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    b = RewardBaseline()
    b.accumulate(torch.tensor([1.0, 1.0]) if rank == 0 else torch.tensor([4.0]))  # ranks see different rewards
    b.accumulate(torch.tensor([2.0]) if rank == 0 else torch.tensor([5.0, 5.0]))
    b.commit()
    Path(out, f"{rank}.json").write_text(json.dumps(b.state_dict()))
    dist.destroy_process_group()


def test_baseline_all_reduces_over_ranks(tmp_path):
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_rank_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    states = [json.loads((tmp_path / f"{r}.json").read_text()) for r in (0, 1)]
    assert states[0] == states[1] == {"sum": 18.0, "count": 6, "mean": 3.0}

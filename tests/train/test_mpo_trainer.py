"""MPOTrainer on a tiny random Idefics3: log-probs, weight updates, BCO delta across accumulation and resume."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import Trainer

from mmpr_builder.train.collator import MPODataCollator
from mmpr_builder.train.data import load_pairs, prepare_pairs
from mmpr_builder.train.mpo_trainer import MPO_STATE_NAME, MPOTrainer, response_logps
from mmpr_builder.train.run import apply_lora, load_model, load_processor
from mpo_helpers import make_trainer, params


@pytest.fixture(scope="module")
def dataset(shards_dir, tiny_vlm_dir):
    return prepare_pairs(load_pairs(shards_dir), load_processor(tiny_vlm_dir))[0]


@pytest.fixture(scope="module")
def shifted(dataset, tiny_vlm_dir):
    """8 pairs (4 text, 4 image) whose reference log-probs sit well below the policy's, by pair:
    rewards are far from 0 and differ between micro-batches, so the BCO shift matters."""
    ds = dataset.select([0, 6, 1, 7, 2, 8, 3, 9])
    model, collator = load_model(tiny_vlm_dir, torch.float32).eval(), MPODataCollator(load_processor(tiny_vlm_dir))
    with torch.no_grad():
        logps, _ = response_logps(model, collator([ds[i] for i in range(len(ds))]))
    c, r = logps.chunk(2)
    offsets = torch.tensor([10.0, 40.0, 20.0, 80.0, 5.0, 60.0, 30.0, 15.0])
    return ds.add_column("ref_chosen_logps", (c - offsets).tolist()).add_column(
        "ref_rejected_logps", (r + offsets / 2).tolist())


def test_response_logps_match_full_log_softmax(tiny_vlm_dir, dataset):
    model, collator = load_model(tiny_vlm_dir, torch.float32).eval(), MPODataCollator(load_processor(tiny_vlm_dir))
    batch = collator([dataset[0], dataset[6]])
    with torch.no_grad():
        logps, n = response_logps(model, batch)
        kwargs = {k: v for k, v in batch.items() if k != "completion_mask"}
        full = model(**kwargs).logits.log_softmax(-1)[:, :-1]
    want = full.gather(-1, batch["input_ids"][:, 1:, None]).squeeze(-1) * batch["completion_mask"][:, 1:]
    assert torch.allclose(logps, want.sum(-1), atol=1e-4)
    assert n.tolist() == batch["completion_mask"].sum(-1).tolist()


def test_train_changes_weights_and_logs_every_term(tiny_vlm_dir, dataset, tmp_path):
    trainer = make_trainer(tiny_vlm_dir, dataset, tmp_path, max_steps=2, learning_rate=1e-3, warmup_steps=0)
    before = params(trainer.model)
    trainer.train()
    after = params(trainer.model)
    text_params = [k for k in before if "text_model" in k or "lm_head" in k]
    assert text_params and all(not torch.equal(before[k], after[k]) for k in text_params)
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [x for x in lines if "loss" in x]
    assert [x["step"] for x in steps] == [1, 2]
    for key in ("loss/sigmoid", "loss/bco_pair", "loss/sft", "bco/delta", "rewards/chosen", "rewards/rejected",
                "rewards/margins", "rewards/accuracies", "learning_rate"):
        assert key in steps[1], key
    first = steps[0]
    assert first["loss"] == pytest.approx(0.8 * first["loss/sigmoid"] + 0.2 * first["loss/bco_pair"]
                                          + first["loss/sft"], rel=1e-5)
    assert first["loss/sigmoid"] == pytest.approx(0.693147, abs=1e-4)  # policy == reference at step 1


def _sgd_run(tiny_vlm_dir, ds, out, batch, accum, trainer_cls=MPOTrainer, **kwargs):
    trainer = make_trainer(tiny_vlm_dir, ds, out, per_device_train_batch_size=batch,
                           gradient_accumulation_steps=accum, optim="sgd", learning_rate=0.5,
                           lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0, max_grad_norm=0.0,
                           max_steps=2, **kwargs)
    if trainer_cls is not MPOTrainer:
        trainer.__class__ = trainer_cls
    trainer.train()
    return params(trainer.model), trainer.baseline.mean


def test_delta_is_the_same_for_1x4_and_4x1(tiny_vlm_dir, shifted, tmp_path):
    w14, d14 = _sgd_run(tiny_vlm_dir, shifted, tmp_path / "a", batch=4, accum=1)
    w41, d41 = _sgd_run(tiny_vlm_dir, shifted, tmp_path / "b", batch=1, accum=4)
    assert d14 == pytest.approx(d41, rel=1e-5) and d14 > 1.0
    for k in w14:
        assert torch.allclose(w14[k], w41[k], rtol=1e-4, atol=1e-6), k

    class PerMicroBatch(MPOTrainer):  # the bug of trl#7265: delta updated and read per micro-batch
        get_batch_samples = Trainer.get_batch_samples

    wbug, _ = _sgd_run(tiny_vlm_dir, shifted, tmp_path / "c", batch=1, accum=4, trainer_cls=PerMicroBatch)
    assert any(not torch.allclose(w14[k], wbug[k], rtol=1e-4, atol=1e-6) for k in w14)


def test_lagged_delta_uses_previous_steps_only(tiny_vlm_dir, shifted, tmp_path):
    trainer = make_trainer(tiny_vlm_dir, shifted, tmp_path, per_device_train_batch_size=4, max_steps=2,
                           bco_delta="lagged", learning_rate=0.0)
    trainer.train()
    steps = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()][:2]
    assert steps[0]["bco/delta_used"] == 0.0
    step1_mean = (steps[0]["rewards/chosen"] + steps[0]["rewards/rejected"]) / 2
    assert steps[1]["bco/delta_used"] == pytest.approx(step1_mean, rel=1e-4)


def test_resume_restores_delta(tiny_vlm_dir, shifted, tmp_path):
    common = dict(per_device_train_batch_size=2, max_steps=4, optim="sgd", learning_rate=0.1,
                  lr_scheduler_type="constant", warmup_steps=0, max_grad_norm=0.0)
    full = make_trainer(tiny_vlm_dir, shifted, tmp_path / "full", save_strategy="steps", save_steps=2, **common)
    full.train()
    state = json.loads((tmp_path / "full" / "run" / "checkpoint-2" / MPO_STATE_NAME).read_text())
    assert state["bco_baseline"]["count"] == 2 * 2 * 2  # 2 steps x 2 pairs x (chosen, rejected)
    assert state["bco_baseline"]["mean"] != 0.0
    resumed = make_trainer(tiny_vlm_dir, shifted, tmp_path / "full", save_strategy="no", **common)
    resumed.train(resume_from_checkpoint=str(tmp_path / "full" / "run" / "checkpoint-2"))
    assert resumed.baseline.count == full.baseline.count == 16
    assert resumed.baseline.mean == pytest.approx(full.baseline.mean, rel=1e-5)
    w_full, w_res = params(full.model), params(resumed.model)
    assert all(torch.allclose(w_full[k], w_res[k], rtol=1e-4, atol=1e-6) for k in w_full)


def test_ref_online_equals_cached_reference(tiny_vlm_dir, dataset, tmp_path):
    cached = make_trainer(tiny_vlm_dir, dataset, tmp_path / "c")
    cached.prepare_reference()
    online = make_trainer(tiny_vlm_dir, dataset, tmp_path / "o", ref_online=True,
                          ref_model=load_model(tiny_vlm_dir, torch.float32))
    rows = [3, 7, 8]
    batch_c = cached.data_collator([cached.train_dataset[i] for i in rows])
    batch_o = online.data_collator([dataset[i] for i in rows])
    assert "ref_chosen_logps" not in batch_o
    with torch.no_grad():
        loss_c = cached.compute_loss(cached.model.eval(), batch_c)
        loss_o = online.compute_loss(online.model.eval(), batch_o)
    assert loss_o.item() == pytest.approx(loss_c.item(), rel=1e-4)


def test_lora_trains_adapters_against_the_base_model(tiny_vlm_dir, dataset, tmp_path):
    from mmpr_builder.train.mpo_config import MPOConfig

    cfg = MPOConfig(output_dir=str(tmp_path), use_lora=True, lora_r=4, use_cpu=True)
    model = apply_lora(load_model(tiny_vlm_dir, torch.float32), cfg)
    trainer = make_trainer(tiny_vlm_dir, dataset.select(range(4)), tmp_path, model=model, use_lora=True,
                           lora_r=4, max_steps=2, learning_rate=1e-2, ref_online=True)
    before = params(trainer.model)
    trainer.train()
    after = params(trainer.model)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed and all("lora_" in k for k in changed)
    base = load_model(tiny_vlm_dir, torch.float32).eval()
    batch = trainer.data_collator([dataset[0], dataset[6]])
    with torch.no_grad():
        want, _ = response_logps(base, batch)
        got_c, got_r = trainer._reference_logps(batch)  # adapters disabled
    assert torch.allclose(torch.cat([got_c, got_r]), want, atol=1e-4)

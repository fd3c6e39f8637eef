"""Worker of test_train_distributed.py: the trainer's reference pass through an FSDP-sharded model on CPU.

Run on 2 processes (``torchrun --nproc_per_node 2 fsdp_reference_worker.py
MODEL DATA OUT``). accelerate turns FSDP on only on accelerators, so this
worker shards the policy itself, as accelerate's FSDP2 path does
(``torch.distributed.fsdp.fully_shard`` on each decoder layer, then the root,
FULL_SHARD over a gloo CPU mesh), after an :class:`MPOTrainer` has deferred
its reference pass, and then runs :meth:`MPOTrainer.run_deferred_reference`
through the sharded model, as the Trainer's ``on_train_begin`` does. Each
rank writes ``OUT/rank<i>.json``: the class of the module the pass ran
through, the local and full shape of the first parameter, the values the
collator got by ``row_hash`` (in dataset order) and the cache file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch


def main(model_dir: str, data_dir: str, out_dir: str) -> None:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    from mmpr_builder.train.data import load_pairs, prepare_pairs
    from mmpr_builder.train.mpo_config import MPOConfig
    from mmpr_builder.train.mpo_trainer import MPOTrainer
    from mmpr_builder.train.run import load_model, load_processor

    out = Path(out_dir)
    processor = load_processor(model_dir)
    pairs, _ = prepare_pairs(load_pairs(data_dir), processor, 4096)
    model = load_model(model_dir, torch.float32)
    config = MPOConfig(output_dir=str(out / "run"), ref_cache_dir=str(out / "ref"), use_cpu=True,
                       per_device_train_batch_size=1, disable_tqdm=True, save_strategy="no", report_to="none")
    trainer = MPOTrainer(model, config, pairs, processor)
    trainer.prepare_reference()  # cache miss on 2 processes: deferred to the start of training
    deferred = trainer._deferred_reference
    mesh = init_device_mesh("cpu", (trainer.accelerator.num_processes,))
    for layer in model.model.text_model.layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    first = next(model.parameters())
    local_shape, full_shape = list(first.to_local().shape), list(first.shape)  # before the pass: the root's
    trainer.model_wrapped = model  # parameters stay gathered after a forward (FSDP2 keeps them for backward)
    trainer.run_deferred_reference()
    reference = trainer.data_collator.reference
    result = {"deferred": deferred, "reference_pass_model": trainer.reference_pass_model,
              "local_shape": local_shape, "full_shape": full_shape,
              "chosen": [reference[h][0] for h in pairs["row_hash"]],
              "rejected": [reference[h][1] for h in pairs["row_hash"]],
              "cache_file": str(trainer.ref_cache_file)}
    (out / f"rank{trainer.accelerator.process_index}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:4])

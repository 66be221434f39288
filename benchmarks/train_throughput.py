"""Training throughput of the default model: samples per second over full optimiser steps.

Run from the repository root:

    python benchmarks/train_throughput.py                 # one human-readable line
    python benchmarks/train_throughput.py --json          # one JSON object
    python benchmarks/train_throughput.py --steps 10 --warmup 2 --device cpu

Builds `TalkingFaceQualityModel(ModelConfig())`, feeds it synthetic `factor_samples` with the
reduced feature sizes (visual 100, audio 200, keypoint 50, au 17) at a fixed T frames, and times
what `Trainer` does per step: forward under the trainer's autocast, task losses + weighting +
NLL + consistency (`Trainer.loss_terms`), backward (through the trainer's grad scaler), gradient
clipping and an AdamW step. Collation happens before timing, so the number is model cost only.
Reported: median samples/s over the steps after warm-up, torch threads, device and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

import torch

import talkscore
from talkscore.models import ModelConfig, TalkingFaceQualityModel
from talkscore.samples import collate
from talkscore.training import TrainConfig, Trainer
from talkscore.training.synthetic import REDUCED_DIMS, factor_samples

DISTINCT_BATCHES = 4  # batches are cycled; a few distinct ones keep the data honest


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32, help="samples per step")
    parser.add_argument("--frames", type=int, default=64, help="frames per sample (fixed)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps after warm-up")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if min(args.batch_size, args.frames, args.steps) < 1 or args.warmup < 0:
        parser.error("--batch-size, --frames and --steps must be positive, --warmup >= 0")
    return args


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_rss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run(args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    model = TalkingFaceQualityModel(ModelConfig())
    trainer = Trainer(model, TrainConfig(batch_size=args.batch_size, device=args.device))
    device = trainer.device
    trainer.model.add_input_dims(REDUCED_DIMS)
    trainer.model.to(device).train()
    trainer.weighting.to(device)

    samples = factor_samples(
        args.batch_size * DISTINCT_BATCHES,
        dims=REDUCED_DIMS,
        frames=(args.frames, args.frames),
        seed=0,
    )
    modalities = model.config.modalities
    batches = [
        collate(samples[i : i + args.batch_size], modalities).to(device)
        for i in range(0, len(samples), args.batch_size)
    ]

    params = list(trainer.model.parameters()) + trainer.weighting.trainable_with_model()
    optimizer = torch.optim.AdamW(params, lr=trainer.config.lr)
    clip = trainer.config.grad_clip

    def step(batch) -> float:
        terms = trainer.loss_terms(batch)
        optimizer.zero_grad(set_to_none=True)
        trainer.scaler.scale(terms["total"]).backward()
        if clip > 0:
            trainer.scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(trainer.model.parameters(), clip)
        trainer.scaler.step(optimizer)
        trainer.scaler.update()
        return float(terms["total"].detach())

    for i in range(args.warmup):
        step(batches[i % len(batches)])
    _sync(device)

    times, losses = [], []
    for i in range(args.steps):
        start = time.perf_counter()
        losses.append(step(batches[i % len(batches)]))  # float() waits for the device
        _sync(device)
        times.append(time.perf_counter() - start)

    median = statistics.median(times)
    return {
        "benchmark": "train_throughput",
        "samples_per_s": args.batch_size / median,
        "step_s_median": median,
        "step_s_min": min(times),
        "step_s_max": max(times),
        "batch_size": args.batch_size,
        "frames": args.frames,
        "steps": args.steps,
        "warmup": args.warmup,
        "dims": dict(REDUCED_DIMS),
        "parameters": sum(p.numel() for p in trainer.model.parameters()),
        "amp_dtype": str(trainer.amp_dtype).replace("torch.", "") if trainer.amp_dtype else None,
        "device": str(device),
        "device_name": (
            torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
        ),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "peak_rss_mib": _peak_rss_mib(),
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "versions": {
            "talkscore": talkscore.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = run(args)
    if result["last_loss"] != result["last_loss"]:  # NaN: the numbers would be meaningless
        raise SystemExit("training loss became NaN; throughput not reported")
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"train throughput: {result['samples_per_s']:.1f} samples/s "
        f"(median step {result['step_s_median'] * 1000:.0f} ms, B={result['batch_size']}, "
        f"T={result['frames']}, {result['steps']} steps after {result['warmup']} warm-up) "
        f"on {result['device']} with {result['torch_threads']} torch threads, "
        f"peak RSS {result['peak_rss_mib']:.0f} MiB"
    )


if __name__ == "__main__":
    main()

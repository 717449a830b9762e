"""WaveGAN presets.

reference -- the paper's settings (`wavegan-specgan.md` §0, §7): 16384 samples at
  16 kHz, dim 64, phase shuffle 2, WGAN-GP (lambda 10), Adam 1e-4 (0.5, 0.9), 5 D
  updates per G update, batch 64, 200k G steps.
    python train.py --model wavegan --preset reference --data /path/to/sc09/train
  Expect about 53 s per G step (5 D + 1 G) on a 2-core CPU whose f32 matmul reaches 193
  GFLOP/s (benchmarks/RESULTS.md; `uv run python benchmarks/peak.py` prints yours) --
  far too slow for 200k steps, so use a GPU/TPU; the paper trained ~4 days on one
  P100 and reports IS 4.7 on SC09.

small -- the reference at 2-core-CPU size: dim 16, batch 16, the rest as reference,
  on the embedded dataset unless --data is given.
    python train.py --model wavegan --preset small
  Expect 1.0-1.4 s per step (5 D + 1 G) on 2-core machines whose f32 matmul reaches
  193-253 GFLOP/s and 2.8 s where it reaches 65 (benchmarks/RESULTS.md), after ~20 s of
  start-up and compilation. Follow train/wasserstein and the samples in TensorBoard:
  tensorboard --logdir runs/wavegan-small/tb

quick -- the CPU default (`--preset auto`), made to learn in a CPU half hour (not in the
  paper): FSDD's native 8 kHz, 4096 samples (0.5 s, five stride-4 layers from 4), dim 16,
  batch 32, the non-saturating loss with a lazy R1 penalty (gamma 10, every 4th step) and
  one D step per G step, Adam (0.5, 0.99) at 1e-4 for G and 4e-4 for D falling linearly
  to 0, an EMA (0.99) of G, 3000 steps; and class-conditional as SpecGAN quick
  (`configs.conditional`: ten classes, a projection D with an auxiliary classifier (AC
  weights 3 in D, 1 in G), DiffAugment, samples at truncation 0.5), with a learned
  per-class bias on each of G's hidden layers (`model.g_class_bias`).
    python train.py --model wavegan
    python train.py --model wavegan --data /path/to/fsdd/recordings data.split=train
    python train.py --model wavegan --data /path/to/unlabelled/audio model.num_classes=0
  A step (lazy-R1 cycle) takes 84 ms on a 2-core CPU whose f32 matmul reached 382
  GFLOP/s: 4.2 min for the budget there, ~25 min scaled to 65 GFLOP/s
  (benchmarks/RESULTS.md; a run with its sampling, scoring and checkpoints took 5.1-5.9
  min at 430-470). Measured on FSDD's train split (benchmarks/QUALITY.md, the FSDD
  classifier, n = 1000, G asked for uniform digits): IS 4.25 / 4.17 / 3.19 at 3000 steps
  for seeds 0 / 1 / 2 (3.85 / 4.11 / 2.95 with latents as drawn), FD 96-113, 40-53 % of
  the clips the digit asked for; two to four digits ("one", "two" on most seeds) never
  come out. Unconditional (model.num_classes=0) it reached 3.05 / 2.10 / 2.60. On the
  embedded set IS 2.13 / 2.20 (seeds 0 / 1) with a classifier trained on its 4096-sample
  clips (real ones 9.94; seed 0 3.96 with one trained on 8192): the floor of 5 there is
  not met. Sample a digit with sample.py --label 7.
"""

import dataclasses

import configs
from gan_jax.config import Config, DataConfig, TrainConfig
from gan_jax.models.wavegan import WaveGANConfig


def reference() -> Config:
    return Config(model_name="wavegan", model=WaveGANConfig(), data=DataConfig(),
                  train=TrainConfig())


def small() -> Config:
    return configs.small(reference())


def quick() -> Config:
    # TTUR and a stronger R1 beat the shared lr 2e-4 and gamma 1 (IS 2.2 against 2.0 at
    # 1200 steps). Unconditional, WaveGAN gained with examples seen, not with other levers
    # (3300 steps of 8192 samples reached IS 3.1, 1100 steps 2.1): 4096 samples (0.5 s, the
    # whole of 75 % of FSDD's digits) run 1.7x the steps of 8192 in the same time. Made
    # class-conditional as SpecGAN quick, with G's per-class biases, it reached IS 4.25
    # where the unconditional one reached 3.05 and lost three digits (benchmarks/QUALITY.md).
    cfg = configs.conditional(configs.quick(reference(), r1_weight=10.0, lr=1e-4, d_lr=4e-4,
                                            slice_len=4096, steps=3000))
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, g_class_bias=True))


PRESETS = {"reference": reference, "small": small, "quick": quick}

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
  batch 32, the non-saturating loss with a lazy R1 penalty (gamma 1, every 4th step) and
  one D step per G step, Adam (0.5, 0.99) at 1e-4 for G and 4e-4 for D falling linearly
  to 0, an EMA (0.99) of G, 2300 steps; class-conditional as SpecGAN quick
  (`configs.conditional`: ten classes, a projection D with an auxiliary classifier (AC
  weights 3 in D, 1 in G), DiffAugment), with a learned per-class bias on each of G's
  hidden layers (`model.g_class_bias`) and a learned 512-tap filter per class on G's
  output (`model.g_class_filter`: each class its own spectral shape); and D also reads a
  log-power spectrogram of its input (`model.d_stft=256`), which shows it the tonal
  artifacts of G's upsampling that its waveform convs let through. Samples use latents
  as drawn (truncation 1).
    python train.py --model wavegan
    python train.py --model wavegan --data /path/to/fsdd/recordings data.split=train
    python train.py --model wavegan --data /path/to/unlabelled/audio model.num_classes=0
  A step (lazy-R1 cycle) takes 110-115 ms on a 2-core CPU whose f32 matmul reached
  388-441 GFLOP/s: 4.2-4.4 min for the budget there, ~25-30 min scaled to 65 GFLOP/s
  (benchmarks/RESULTS.md; a run with its sampling, scoring and checkpoints took 5.5-5.9
  min). Measured on FSDD's train split (benchmarks/QUALITY.md, the FSDD classifier, n =
  1000, G asked for uniform digits; real clips 9.8): IS 9.10 / 9.53 / 9.21 at 2300 steps
  for seeds 0 / 1 / 2, FD 98-104, 95-100 % of the clips the digit asked for, every digit
  present. The 2500-step preset before the class filter reached 5.48 / 7.23 / 7.10 (FD
  115-134) and never made "one". On the embedded set IS 3.11 / 4.17 / 4.84 (seeds 0 / 1 /
  2; FD 86 / 79 / 78; 4.07 / 2.38 / 3.63 before the filter) with a classifier trained
  on its 4096-sample clips (real ones 9.94): the floor of 5 there is not met; kicks and
  chirp_downs never come out. Sample a digit with sample.py --label 7.
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
    # 1200 steps, unconditional). Unconditional, WaveGAN gained with examples seen, not with
    # other levers (3300 steps of 8192 samples reached IS 3.1, 1100 steps 2.1): 4096
    # samples (0.5 s, the whole of 75 % of FSDD's digits) run 1.7x the steps of 8192 in the
    # same time. Made class-conditional as SpecGAN quick, with G's per-class biases, it
    # reached IS 4.25 where the unconditional one reached 3.05 and lost three digits; D's
    # STFT branch took three seeds to 5.3-5.8 and the embedded set from 2.1-2.2 to 2.5-3.3,
    # and with it R1 gamma 1 beat 10 again (embedded 4.23 / 3.47 against 3.30 / 2.45). The
    # branch costs a fifth more per step, so 2500 steps keep the budget
    # (benchmarks/QUALITY.md). With the branch, latents as drawn beat truncation 0.5.
    # G's AC weight 3 lifted the embedded set (4.69 / 3.13 against 4.07 / 2.38) but cost
    # FSDD (4.80 / 3.34 / 7.36 against 5.48 / 7.23 / 7.10), so G keeps 1. G's clips lay on
    # a comb of 31.25 Hz (86-100 % of their power) whatever the class. A filter per class
    # on G's output took FSDD from 6.6 to 8.5 and the embedded set from 3.4 to 3.9 (means
    # of three seeds at 2500 steps) and costs ~3 % a step, so 2300 steps keep the budget;
    # balanced upsampling (`model.upsample=balanced`) removes the comb but scored no
    # better on the embedded set.
    cfg = configs.conditional(configs.quick(reference(), r1_weight=1.0, lr=1e-4, d_lr=4e-4,
                                            slice_len=4096, steps=2300), truncation=1.0)
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, g_class_bias=True,
                                                              d_stft=(256,), g_class_filter=512))


PRESETS = {"reference": reference, "small": small, "quick": quick}

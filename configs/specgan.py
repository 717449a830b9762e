"""SpecGAN presets.

reference -- the paper's settings (`wavegan-specgan.md` §6-§7): 16384 samples at 16 kHz
  as 128x128 normalised log spectrograms (STFT 256/128), dim 64, 5x5 kernels, WGAN-GP
  (lambda 10), Adam 1e-4 (0.5, 0.9), 5 D updates per G update, batch 64, 16
  Griffin-Lim iterations for audio.
    python train.py --model specgan --preset reference --data /path/to/sc09/train
  Expect about 81 s per G step (5 D + 1 G) on a 2-core CPU whose f32 matmul reaches 193
  GFLOP/s (benchmarks/RESULTS.md; `uv run python benchmarks/peak.py` prints yours):
  use a GPU/TPU for the paper's ~200k steps. The paper reports IS 6.0 on SC09 (better
  than WaveGAN's 4.7) with rougher audio quality.

small -- the reference at 2-core-CPU size: dim 16, batch 16, the rest as reference,
  on the embedded dataset unless --data is given.
    python train.py --model specgan --preset small
  Expect 1.5-1.9 s per step (5 D + 1 G) on 2-core machines whose f32 matmul reaches
  193-245 GFLOP/s and 4.7 s where it reaches 65 (benchmarks/RESULTS.md), after ~20 s of
  start-up and compilation: the 20,000 steps take 8-26 h. Follow train/wasserstein and
  the samples in TensorBoard: tensorboard --logdir runs/specgan-small/tb

quick -- the CPU default (`--preset auto`), made to learn in a CPU half hour (not in the
  paper): FSDD's native 8 kHz, 8192 samples as 64 frames x 128 bins (four 5x5 stride-2
  layers from [4, 8]), dim 16, batch 32, the non-saturating loss with a lazy R1 penalty
  (gamma 1, every 4th step) and one D step per G step, Adam 2e-4 (0.5, 0.99) for G
  and D falling linearly as if to 0 at step 1350 (`train.lr_decay_steps`; a third of
  their start at the end), an EMA (0.99) of G for sampling, D's convs in XLA's form
  outside the R1 step (`model.d_conv_impl`), 900 steps; and class-conditional
  (`configs.conditional`: ten classes, a projection D with an auxiliary classifier (AC
  weights 3 in D, 1 in G), DiffAugment, samples at truncation 0.6).
    python train.py --model specgan
    python train.py --model specgan --data /path/to/fsdd/recordings data.split=train
    python train.py --model specgan --data /path/to/unlabelled/audio model.num_classes=0
  A step takes ~0.34 s on a 2-core CPU whose f32 matmul reaches 250 GFLOP/s: about 6 min
  in all there, and at most ~1.3 s and 20 min at 65 GFLOP/s (steps scale less than the
  peak: the small preset's took 2.5x as long for a 3.8x lower peak). Measured at the end
  of the budget (benchmarks/QUALITY.md, n = 1000, each set's own classifier, asking G for
  uniform classes): on FSDD's train split, seeds 0-5: IS 5.59 / 6.72 / 7.02 / 4.70 / 5.28 /
  5.77 (mean 5.85; FD 59-115, 68-88 % of the clips the digit asked for), every digit in
  the histogram, one in under 10 clips of 1000 on seeds 0 and 4. With the rates falling
  to 0 by step 900 (the preset until 2026-12-07) the same seeds ended at 5.16 / 5.94 /
  5.08 / 3.89 / 4.98 / 4.31 at truncation 0.5 (mean 4.89; 6.04 for this preset at 0.5).
  On the embedded set, seeds 0-5: IS 6.38 / 5.16 / 5.44 / 5.18 / 5.81 / 6.30 (mean 5.71;
  FD 64-86, 66-77 % the class asked for; 5.61 at 0.5, one seed under 5), "snare" in 0-7
  clips of 1000, heard as "clap" (sample.py --truncation 1 brings the drums back: 5.89).
  Each seed's figure is one draw (see configs/wavegan.py): expect the spread. Sample a
  digit with sample.py --label 7.
"""

import dataclasses

import configs
from gan_jax.config import Config, DataConfig, TrainConfig
from gan_jax.models.specgan import SpecGANConfig


def reference() -> Config:
    return Config(model_name="specgan", model=SpecGANConfig(), data=DataConfig(),
                  train=TrainConfig())


def small() -> Config:
    return configs.small(reference())


def quick() -> Config:
    # D's convs in XLA's form outside the R1 step: 20 % less time per step
    # (benchmarks/RESULTS.md). 900 steps, with the learning rates falling as over 1350 (to
    # a third of their start at the end): FSDD seeds 0-5 ended at IS 5.59 / 7.08 / 7.20 /
    # 4.87 / 5.27 / 6.20, against 5.16 / 5.94 / 5.08 / 3.89 / 4.98 / 4.31 with the rates
    # falling to 0 by step 900 (both sampled at truncation 0.5); run on to 1350, seeds 0-3
    # peaked and fell back (4.61 / 4.49 / 7.06 / 5.52), as with AC weight 10
    # (benchmarks/QUALITY.md). Truncation 0.6 (configs.conditional) costs FSDD a little and
    # lifts the embedded set's weakest seeds over 5.
    cfg = configs.conditional(configs.quick(reference(), steps=900))
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, d_conv_impl="xla"),
                               train=dataclasses.replace(cfg.train, lr_decay_steps=1350))


PRESETS = {"reference": reference, "small": small, "quick": quick}

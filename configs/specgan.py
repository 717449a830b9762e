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
  and D falling linearly to 0, an EMA (0.99) of G for sampling, D's convs in XLA's form
  outside the R1 step (`model.d_conv_impl`), 1350 steps; and class-conditional
  (`configs.conditional`: ten classes, a projection D with an auxiliary classifier,
  DiffAugment, samples at truncation 0.7).
    python train.py --model specgan
    python train.py --model specgan --data /path/to/fsdd/recordings data.split=train
    python train.py --model specgan --data /path/to/unlabelled/audio model.num_classes=0
  A step takes ~0.34 s on a 2-core CPU whose f32 matmul reaches 250 GFLOP/s: about 8 min
  in all there, and at most ~1.3 s and 29 min at 65 GFLOP/s (steps scale less than the
  peak: the small preset's took 2.5x as long for a 3.8x lower peak). Measured at the end
  of the budget (benchmarks/QUALITY.md, n = 1000, each set's own classifier, asking G for
  uniform classes): on FSDD's train split, seed 0: IS 6.79 (5.29 untruncated), FD 79, 79 %
  of the clips the digit asked for, every digit in the histogram ("one" rarest); but seeds
  1 and 2 collapsed after 450 steps (IS 4.95 and 5.61 there, 2.60 and 3.64 at the end,
  mostly "zero" or "nine"), so the FSDD floor of 5 is met by one seed in three. R1 gamma
  10, a 600-step budget and batch 64 did not stop the collapse. On the embedded set (seed
  0) IS 6.13 (6.11 untruncated), FD 76, 73 % the class asked for. Sample a digit with
  sample.py --label 7.
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
    # D's convs in XLA's form outside the R1 step: 20 % less time per step, spent on
    # 1350 steps instead of 1100 in the same budget (benchmarks/RESULTS.md).
    cfg = configs.conditional(configs.quick(reference(), steps=1350))
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, d_conv_impl="xla"))


PRESETS = {"reference": reference, "small": small, "quick": quick}

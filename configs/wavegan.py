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
  paper): FSDD's native 8 kHz, 8192 samples (five stride-4 layers from 8), dim 16, batch
  32, the non-saturating loss with a lazy R1 penalty (gamma 10, every 4th step) and
  one D step per G step, Adam (0.5, 0.99) at 1e-4 for G and 4e-4 for D falling linearly
  to 0, an EMA (0.99) of G, 1100 steps.
    python train.py --model wavegan
    python train.py --model wavegan --data /path/to/fsdd/recordings data.split=train
  A step takes ~0.37 s on a 2-core CPU whose f32 matmul reaches 230 GFLOP/s (~1.4 s at 65):
  about 8 min in all there, under 30 min at 65 GFLOP/s. Measured on FSDD's train split
  (benchmarks/QUALITY.md, the FSDD classifier, n = 1000): IS 1.04 / 1.04 / 1.80 / 2.06 at
  275 / 550 / 825 / 1100 steps, FD 123 at the end, 49 of 50 NDB bins off, half the clips
  "nine", "four" and "five" missing (earlier runs of these settings: 2.0-2.6 at 800-1200
  steps). Far below the target of IS 3: WaveGAN learns much more slowly than SpecGAN at
  this budget.
"""

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
    # 1200 steps, benchmarks/QUALITY.md).
    return configs.quick(reference(), r1_weight=10.0, lr=1e-4, d_lr=4e-4)


PRESETS = {"reference": reference, "small": small, "quick": quick}

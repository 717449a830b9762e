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
"""

import configs
from gan_jax.config import Config, DataConfig, TrainConfig
from gan_jax.models.wavegan import WaveGANConfig


def reference() -> Config:
    return Config(model_name="wavegan", model=WaveGANConfig(), data=DataConfig(),
                  train=TrainConfig())


def small() -> Config:
    return configs.small(reference())


PRESETS = {"reference": reference, "small": small}

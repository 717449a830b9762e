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
  hidden layers (`model.g_class_bias`), a learned 512-tap filter per class on G's output
  whose taps learn 30 times as fast as G (`model.g_class_filter`,
  `model.g_class_filter_lr`: each class its own spectral shape), and transposed convs
  whose output phases have the same DC gain (`model.upsample=balanced`: no comb of the
  first layer's rate); and D also reads a log-power spectrogram of its input
  (`model.d_stft=256`), which shows it the tonal artifacts of G's upsampling that its
  waveform convs let through, and scores real clips given another class's label as fake
  (`train.d_mismatch=3`: a G that answers one class with another's sound is caught).
  Samples use latents as drawn (truncation 1).
    python train.py --model wavegan
    python train.py --model wavegan --data /path/to/fsdd/recordings data.split=train
    python train.py --model wavegan --data /path/to/unlabelled/audio model.num_classes=0
  A step (lazy-R1 cycle) takes 94-101 ms on a 2-core CPU whose f32 matmul reached 470-496
  GFLOP/s: 3.6-3.9 min for the budget there, ~25-30 min scaled to 65 GFLOP/s
  (benchmarks/RESULTS.md; a run with its sampling, scoring and checkpoints took 5.3-5.7
  min there; bench_quality's training minutes were 8.9-11.3 at 165-206). Measured on the
  embedded set (benchmarks/QUALITY.md, a classifier trained on its 4096-sample clips, real
  ones 9.94; n = 1000, G asked for uniform classes): IS 5.56 / 5.76 / 7.65 / 6.19 / 6.11 /
  5.73 at 2300 steps for seeds 0-5, mean 6.17 (FD 50-66; 73-100 % of the clips the sound
  asked for; every class on seeds 0, 3 and 4 (seed 0: one vibrato), missing vibrato on
  seed 1, chirp_down on seed 2, snare on seed 5), against 4.46 / 5.99 / 5.63 / 5.22 / 5.53
  / 3.35 (mean 5.03) without `d_mismatch`, which missed chirp_down on five seeds of six.
  On FSDD's train split (the FSDD classifier; real clips 9.8): IS 9.51 / 8.64 / 8.61 for
  seeds 0 / 1 / 2 (FD 80-85, 100 / 90 / 90 % the digit asked for; seeds 1 and 2 make no
  "one", heard as "four", as without it), against 9.21 / 8.59 / 8.60 without it. Each
  seed's figure is one draw: with the gradient's rounding changed by 1e-8, seed 0 on the
  embedded set ended at 4.70 with two classes gone (FSDD: 9.43), so expect the spread of
  the six seeds, not seed 0's figure.
  Sample a class with sample.py --label 7.
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
    # of three seeds at 2500 steps) and costs ~3 % a step, so 2300 steps keep the budget.
    # Its taps moved too little at G's rate (1e-4, within ~13 dB of flat): at 30 times it
    # (`g_class_filter_lr`; 10 times: 5.00) and with balanced upsampling, which removes
    # the comb (`model.upsample=balanced`; 4.84 with the filter at G's rate, 3.64 without
    # the filter), the embedded set went from 4.04 to 5.36 (means of three seeds) and the
    # kick came out; FSDD went from 9.28 to 8.80 and seldom makes "one" (nor did the filter
    # at 30 times with plain transposed convs: embedded 3.79, FSDD 8.28 without "one").
    # G drove D's class cross-entropy on its clips to ~0.001 while the evaluation classifier
    # heard a bell for chirp_down: D's classifier learns from real clips only, and G found
    # what it takes for chirp_down. D scoring real clips with wrong labels as fake
    # (`d_mismatch`, weight 3; 1 lifted seeds 0 / 5 less) took the embedded seeds 0 / 1 /
    # 2 / 5 from 4.46 / 5.99 / 5.63 / 3.35 to 5.56 / 5.76 / 7.65 / 5.73, at no cost a step.
    # Weight 6, and five times the embedded set (`data.embedded_per_class=500`), moved the
    # missing class from seed to seed without removing it (means 5.91 / 5.95 against 6.38 /
    # 6.18 on the same seeds).
    cfg = configs.conditional(configs.quick(reference(), r1_weight=1.0, lr=1e-4, d_lr=4e-4,
                                            slice_len=4096, steps=2300), truncation=1.0)
    return dataclasses.replace(cfg, model=dataclasses.replace(
        cfg.model, g_class_bias=True, d_stft=(256,), g_class_filter=512, g_class_filter_lr=30.0,
        upsample="balanced"), train=dataclasses.replace(cfg.train, d_mismatch=3.0))


PRESETS = {"reference": reference, "small": small, "quick": quick}

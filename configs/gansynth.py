"""GANSynth presets.

reference -- the released "IF-Mel + H" configuration (`gansynth.md` §0, §2): 4 s notes at
  16 kHz as 128x1024 [log-mel magnitude, mel IF] spectrograms, progressive over 13
  stages (800k images stable, 800k transition, 11M in all), pitch-conditioned (MIDI
  24-84) with an auxiliary classifier, WGAN-GP 10 + drift 0.001 + AC 10, Adam 8e-4
  (0, 0.99) reset at every stage, G then D, batch 8, EMA 0.999 of G for sampling.
    python train.py --model gansynth --preset reference --data /path/to/nsynth-train
  1.375M steps; the paper trained ~4 days on a V100. On a 2-core CPU whose f32 matmul
  reaches 198-210 GFLOP/s a step takes 0.26 s at stage 0 and 48 s by stage 6
  (benchmarks/RESULTS.md; `uv run python benchmarks/peak.py` prints your peak): use a
  GPU/TPU.

small -- the reference at 2-core-CPU size: block widths min(512 / 2^b, 32) instead of
  min(4096 / 2^b, 256) (399k + 109k parameters instead of 7.3M + 6.8M) and 4000
  images per stage (7000 steps), still 128x1024 at 16 kHz, on 4 embedded notes per
  pitch unless --data is given.
    python train.py --model gansynth --preset small
  Expect 0.1 s per step in the first stages rising to 5.8 s at full resolution on a
  2-core CPU whose matmul reaches 198-210 GFLOP/s, about 4 h 15 min for the whole
  schedule (benchmarks/RESULTS.md); scale by the ratio of peaks on yours.
  TensorBoard shows train/stage and train/alpha rising through the schedule and the
  samples growing from blocky (2x16) to full resolution:
    tensorboard --logdir runs/gansynth-small/tb
  Then: python sample.py --workdir runs/gansynth-small --pitch 60 --n 4

quick -- the CPU default (`--preset auto`), not in the paper: 0.5 s notes at 8 kHz as
  64x128 IF-Mel spectrograms (4 resolutions from 8x16, n_fft 256, hop 64), widths
  min(256 / 2^b, 64), not progressive, batch 8, the non-saturating loss with a lazy R1
  penalty (gamma 1, every 4th step), D's pitch head a projection plus the auxiliary
  classifier (AC weights 10 in D, 1 in G), the one-hot pitch scaled by 16 before G's
  pixel norm (`model.pitch_gain`), one D step per G step, Adam 1e-3 (0.5, 0.99), EMA
  0.99, 1600 steps (NSynth is resampled to 8 kHz).
    python train.py --model gansynth --data /path/to/nsynth-gm
  1600 steps trained in 16 min on a 2-core CPU whose f32 matmul read 90 GFLOP/s, shared
  with other work part of the time (the lazy-R1 step runs as its own executable;
  benchmarks/RESULTS.md). It does not yet meet the pitch target (50 %): at the end, on
  nsynth-gm, pYIN recovers the requested pitch for 9.3 % of 1000 notes and the pitch
  classifier for 3.0 % (real notes: 96.5 % and 95.3 %); the paper's pitch input and lr
  2e-4 gave 1.8 % and 1.1 % (benchmarks/QUALITY.md). G now fools D's pitch classifier
  (cross-entropy 0.4-0.7 on fakes; chance 4.1), with features that are not yet the pitch.
"""

import dataclasses

from gan_jax.config import Config, DataConfig, TrainConfig
from gan_jax.models.gansynth import GANSynthConfig


def reference() -> Config:
    return Config(
        model_name="gansynth", model=GANSynthConfig(),
        data=DataConfig(embedded_per_class=4),
        train=TrainConfig(loss="wgan-gp", gp_weight=10.0, gp_target=1.0, drift_weight=0.001,
                          d_ac_weight=10.0, g_ac_weight=10.0, g_first=True, n_critic=1,
                          batch_size=8, optimizer="adam", lr=8e-4, b1=0.0, b2=0.99, ema=0.999,
                          steps=11_000_000 // 8, log_every=100, sample_every=10_000,
                          ckpt_every=5000))


def small() -> Config:
    cfg = reference()
    images = 4000
    model = dataclasses.replace(
        cfg.model, fmap_base=512, fmap_max=32, stable_stage_num_images=images,
        transition_stage_num_images=images, total_num_images=14 * images)
    train = dataclasses.replace(cfg.train, steps=14 * images // cfg.train.batch_size,
                                log_every=20, sample_every=250, ckpt_every=250)
    return dataclasses.replace(cfg, model=model, train=train)


def quick() -> Config:
    cfg = reference()
    model = dataclasses.replace(
        cfg.model, sample_rate=8000, slice_len=4000, num_resolutions=4, start_height=8,
        start_width=16, fmap_base=256, fmap_max=64, progressive=False, pitch_gain=16.0,
        class_head="projection+ac")
    # lr 1e-3 (the paper: 8e-4) rather than the 2e-4 of the other quick presets:
    # equalized-lr weights move by ~lr a step in units of their N(0, 1) init, and at 2e-4
    # D's pitch classifier took 1200 steps to learn the real notes, at 1e-3 260.
    train = dataclasses.replace(
        cfg.train, loss="non-saturating", gp_weight=0.0, drift_weight=0.0, r1_weight=1.0,
        r1_every=4, n_critic=1, batch_size=8, lr=1e-3, d_lr=1e-3, b1=0.5, b2=0.99, ema=0.99,
        g_ac_weight=1.0, steps=1600, log_every=20, sample_every=400, ckpt_every=400)
    return dataclasses.replace(cfg, model=model, train=train, data=dataclasses.replace(
        cfg.data, sample_rate=8000))


PRESETS = {"reference": reference, "small": small, "quick": quick}

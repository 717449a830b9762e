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


PRESETS = {"reference": reference, "small": small}

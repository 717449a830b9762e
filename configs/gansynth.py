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
  32x256 IF-Mel spectrograms (4 resolutions from 4x32, n_fft 512, hop 128), widths
  min(256 / 2^b, 64), not progressive, batch 8, the non-saturating loss with a lazy R1
  penalty (gamma 1, every 4th step), D's pitch head a projection, the one-hot pitch scaled
  by 16 before G's pixel norm (`model.pitch_gain`), and the pitch template
  (`model.pitch_template=g+d`): G's convs and D's input also read the encoded harmonic
  tone of the asked pitch, as a source-filter vocoder reads its excitation. One D step per
  G step, Adam 1e-3 (0.5, 0.99), EMA 0.99, 1600 steps (NSynth is resampled to 8 kHz).
    python train.py --model gansynth --data /path/to/nsynth-gm
    python sample.py --workdir runs/gansynth-quick --pitch 60 --n 4
  A step (lazy-R1 cycle) takes 0.31 s on a 2-core CPU whose f32 matmul reached 456
  GFLOP/s: 8 min for the budget there, ~58 min scaled to 65 GFLOP/s (benchmarks/RESULTS.md;
  the runs below took 11-19 min at 230-310, the machine shared part of the time).
  On nsynth-gm (benchmarks/QUALITY.md, n = 1000 notes at pitches 24-84), three seeds ended
  with the asked pitch recovered by pYIN for 78.7 / 84.9 / 77.6 % of the notes and by a
  pitch classifier trained on nsynth-gm cut as this preset makes notes, 0.5 s at 8 kHz
  (`evaluate.py classifier --pitch --sample-rate 8000 --slice-len 4096`; 100 % of
  held-out real notes right) for 69.3 / 72.9 / 63.7 % (target 50 % each), FD
  74-115 with that classifier. Without the template (gain 1, lr 2e-4) pYIN recovered 1.8 %.
  On the embedded notes (no --data, seed 0): pYIN 79.4 %; a classifier trained on those
  notes the same way (98.6 % of held-out real ones) 25.6 %, unsure of generated notes.
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
    # 32x256 (n_fft 512) rather than 64x128: partials of notes down to ~MIDI 36 fall in
    # separate bins, so the pitch template shows them (pitch classifier 37.7 % against 19.5 %
    # at step 400, the same time per step). The template in D as well as G, with a
    # projection head and no auxiliary classifier, which could read the pitch off it.
    model = dataclasses.replace(
        cfg.model, sample_rate=8000, slice_len=4000, num_resolutions=4, start_height=4,
        start_width=32, fmap_base=256, fmap_max=64, progressive=False, pitch_gain=16.0,
        pitch_template="g+d", class_head="projection")
    # lr 1e-3 (the paper: 8e-4) rather than the 2e-4 of the other quick presets:
    # equalized-lr weights move by ~lr a step in units of their N(0, 1) init, and at 2e-4
    # D's pitch classifier took 1200 steps to learn the real notes, at 1e-3 260.
    train = dataclasses.replace(
        cfg.train, loss="non-saturating", gp_weight=0.0, drift_weight=0.0, r1_weight=1.0,
        r1_every=4, n_critic=1, batch_size=8, lr=1e-3, d_lr=1e-3, b1=0.5, b2=0.99, ema=0.99,
        steps=1600, log_every=20, sample_every=400, ckpt_every=400)
    return dataclasses.replace(cfg, model=model, train=train, data=dataclasses.replace(
        cfg.data, sample_rate=8000))


PRESETS = {"reference": reference, "small": small, "quick": quick}

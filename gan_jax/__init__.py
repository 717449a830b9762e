"""gan_jax: WaveGAN, SpecGAN and GANSynth in JAX/Flax.

    from gan_jax import load, sample
    params, config = load("runs/wavegan")
    audio = sample(params, jax.random.key(0), n=16)   # float32 [16, T] in [-1, 1]
    notes = sample(gansynth_params, key, n=4, pitch=60)   # GANSynth: 4 timbres at middle C
"""

__all__ = ["Generator", "load", "sample"]
__version__ = "0.1.0"


def __getattr__(name):
    # Lazy, so that `import gan_jax.signals` (the CLIs' first import) does not wait for JAX.
    if name in __all__:
        from gan_jax import sampling
        return getattr(sampling, name)
    raise AttributeError(f"module 'gan_jax' has no attribute {name!r}")

"""GAN losses on discriminator logits, the class losses of a classifying D, and the WGAN-GP
and R1 gradient penalties.

D losses are minimised by D, G losses by G; D is trained to score real high.
The reference optimiser for each loss (`wavegan-specgan.md` §7.2) is in
`REFERENCE_OPTIMIZERS`; `train.optimizer="reference"` selects it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

LOSSES = ("minimax", "non-saturating", "wgan", "wgan-gp", "lsgan", "hinge")

# The reference's hard-coded optimiser per loss. "dcgan" there is our "non-saturating";
# hinge is not in the reference and gets the WGAN-GP setting. RMSProp is TF1's
# (decay 0.9, epsilon 1e-10, mean square initialised to 1).
REFERENCE_OPTIMIZERS = {
    "wgan-gp": dict(optimizer="adam", lr=1e-4, b1=0.5, b2=0.9),
    "wgan": dict(optimizer="rmsprop", lr=5e-5),
    "lsgan": dict(optimizer="rmsprop", lr=1e-4),
    "non-saturating": dict(optimizer="adam", lr=2e-4, b1=0.5, b2=0.999),
    "minimax": dict(optimizer="adam", lr=2e-4, b1=0.5, b2=0.999),
    "hinge": dict(optimizer="adam", lr=1e-4, b1=0.5, b2=0.9),
}


def check(kind: str) -> None:
    if kind not in LOSSES:
        raise ValueError(f"train.loss must be one of {', '.join(LOSSES)}, got {kind!r}")


def d_loss(kind: str, real_B, fake_B):
    """Discriminator loss from logits on real and generated examples."""
    return _d_real_term(kind, real_B) + d_fake_term(kind, fake_B)


def _d_real_term(kind: str, real_B):
    if kind in ("minimax", "non-saturating"):
        # Cross-entropy with label 1 for real and 0 for fake, averaged over the two halves.
        return 0.5 * jnp.mean(jax.nn.softplus(-real_B))
    if kind in ("wgan", "wgan-gp"):
        return -jnp.mean(real_B)
    if kind == "lsgan":
        return 0.5 * jnp.mean((real_B - 1.0) ** 2)
    if kind == "hinge":
        return jnp.mean(jax.nn.relu(1.0 - real_B))
    check(kind)


def d_fake_term(kind: str, fake_B):
    """The part of `d_loss` that scores logits as fake: on G's examples, or on real ones
    given the wrong labels (train.d_mismatch)."""
    if kind in ("minimax", "non-saturating"):
        return 0.5 * jnp.mean(jax.nn.softplus(fake_B))
    if kind in ("wgan", "wgan-gp"):
        return jnp.mean(fake_B)
    if kind == "lsgan":
        return 0.5 * jnp.mean(fake_B ** 2)
    if kind == "hinge":
        return jnp.mean(jax.nn.relu(1.0 + fake_B))
    check(kind)


def g_loss(kind: str, fake_B):
    """Generator loss from D's logits on generated examples."""
    if kind == "minimax":
        # The original saturating objective: minimise log(1 - sigmoid(D(G(z)))).
        return -jnp.mean(jax.nn.softplus(fake_B))
    if kind == "non-saturating":
        return jnp.mean(jax.nn.softplus(-fake_B))      # -log sigmoid(D(G(z)))
    if kind in ("wgan", "wgan-gp", "hinge"):
        return -jnp.mean(fake_B)
    if kind == "lsgan":
        return jnp.mean((fake_B - 1.0) ** 2)
    check(kind)


def _xent(logits_BxK, labels_B):
    return optax.softmax_cross_entropy_with_integer_labels(logits_BxK, labels_B).mean()


def d_class_loss(real_BxC, real_labels_B, fake_BxC, fake_labels_B, per_class: int):
    """D's class cross-entropy, from its class logits on reals and fakes [B, per_class * K].
    per_class 1 (AC-GAN as GANSynth §2.8 trains it): reals to their class, fakes unused.
    2 (ADC-GAN, Hou et al. 2022): logit k is "real of class k", K + k "fake of class k";
    reals go to their real copy and fakes to the fake copy of the class G was asked for."""
    loss = _xent(real_BxC, real_labels_B)
    if per_class == 2:
        loss = loss + _xent(fake_BxC, fake_labels_B + fake_BxC.shape[-1] // 2)
    return loss


def g_class_loss(fake_BxC, labels_B, per_class: int):
    """G's class loss on D's class logits of its fakes: cross-entropy with the class asked
    for; with ADC-GAN's 2K logits, minus that with the class's fake copy (the paper's
    log p(y+|x) - log p(y-|x)): G must look like a real member of the class, not merely
    be classified as the class."""
    loss = _xent(fake_BxC, labels_B)
    if per_class == 2:
        loss = loss - _xent(fake_BxC, labels_B + fake_BxC.shape[-1] // 2)
    return loss


def mode_seeking(fake_a, fake_b, z_a, z_b, eps: float = 1e-5):
    """MSGAN's mode-seeking term (Mao et al. 2019), minimised by G: 1 / (mean |G(z_a) -
    G(z_b)| / mean |z_a - z_b| + eps), for pairs of latents drawn for the same condition. It
    grows as G maps different latents to the same output, so G is pushed to make them differ."""
    ratio = jnp.mean(jnp.abs(fake_a - fake_b)) / jnp.mean(jnp.abs(z_a - z_b))
    return 1.0 / (ratio + eps)


def gradient_penalty(d_fn, real, fake, alpha, target: float = 1.0, scale=None):
    """WGAN-GP: mean((||dD(x_hat)/dx_hat||_2 / target - 1)^2) at x_hat = real + alpha (fake - real).

    As in the reference, the gradient is that of the *sum* of D's logits (equal to the
    per-example gradient when D mixes no examples) and the norm runs over all non-batch axes.
    `scale` (broadcast on the last axis) multiplies the gradient first: the chain rule for a
    penalty taken w.r.t. an input that D sees as `scale * x + shift` (GANSynth's raw space).
    """
    x_hat = real + alpha * (fake - real)
    grad = jax.grad(lambda x: jnp.sum(d_fn(x)))(x_hat)
    if scale is not None:
        grad = grad * jnp.reshape(scale, (1,) * (grad.ndim - 1) + (-1,))
    slope_B = jnp.sqrt(jnp.sum(grad ** 2, axis=tuple(range(1, grad.ndim))))
    return jnp.mean((slope_B / target - 1.0) ** 2)


def r1_penalty(d_fn, real):
    """R1 (Mescheder et al. 2018): mean over examples of ||dD(x)/dx||^2 at real x only.

    L_D adds gamma / 2 times this. Unlike WGAN-GP it needs no interpolates and no fakes, so
    it can be applied lazily (every k-th step, weighted by k) at a fraction of the cost.
    """
    grad = jax.grad(lambda x: jnp.sum(d_fn(x)))(real)
    return jnp.mean(jnp.sum(grad ** 2, axis=tuple(range(1, grad.ndim))))

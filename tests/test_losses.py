"""Losses against hand-computed values; the gradient penalty on a case with a known gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import cross_entropy
from gan_jax import losses

REAL = jnp.array([2.0, -1.0])
FAKE = jnp.array([0.5, -3.0])
sp = lambda x: np.log1p(np.exp(x))   # softplus


@pytest.mark.parametrize("kind,d_expected,g_expected", [
    ("wgan-gp", (0.5 - 3.0) / 2 - (2.0 - 1.0) / 2, -(0.5 - 3.0) / 2),
    ("wgan", -1.75, 1.25),
    ("lsgan", 0.5 * (((2 - 1) ** 2 + (-1 - 1) ** 2) / 2 + (0.25 + 9.0) / 2),
     ((0.5 - 1) ** 2 + (-3 - 1) ** 2) / 2),
    ("hinge", (0.0 + 2.0) / 2 + (1.5 + 0.0) / 2, 1.25),
    ("non-saturating", 0.5 * ((sp(-2.0) + sp(1.0)) / 2 + (sp(0.5) + sp(-3.0)) / 2),
     (sp(-0.5) + sp(3.0)) / 2),
    ("minimax", 0.5 * ((sp(-2.0) + sp(1.0)) / 2 + (sp(0.5) + sp(-3.0)) / 2),
     -(sp(0.5) + sp(-3.0)) / 2),
])
def test_loss_values(kind, d_expected, g_expected):
    assert float(losses.d_loss(kind, REAL, FAKE)) == pytest.approx(d_expected, rel=1e-6)
    assert float(losses.g_loss(kind, FAKE)) == pytest.approx(g_expected, rel=1e-6)


def test_minimax_g_loss_is_log_one_minus_d():
    d = 1 / (1 + np.exp(-0.5))
    assert float(losses.g_loss("minimax", jnp.array([0.5]))) == pytest.approx(np.log(1 - d), rel=1e-6)


def test_gradient_penalty_of_a_linear_critic():
    """D(x) = <w, x> has gradient w everywhere: GP = (||w|| - 1)^2 for every interpolate."""
    w = jnp.arange(1.0, 7.0).reshape(3, 2)            # ||w|| = sqrt(91)
    d_fn = lambda x: jnp.sum(x * w[None], axis=(1, 2))
    real, fake = jnp.zeros((4, 3, 2)), jnp.ones((4, 3, 2))
    alpha = jnp.linspace(0, 1, 4).reshape(4, 1, 1)
    gp = losses.gradient_penalty(d_fn, real, fake, alpha)
    assert float(gp) == pytest.approx((np.sqrt(91.0) - 1.0) ** 2, rel=1e-6)


def test_gradient_penalty_target_and_input_scale():
    """GANSynth's raw-space GP: D sees a x + b per channel, so its gradient w.r.t. x is
    a times the gradient w.r.t. D's input; target divides the norm."""
    w = jnp.arange(1.0, 7.0).reshape(3, 2)
    d_fn = lambda x: jnp.sum(x * w[None], axis=(1, 2))
    real, fake = jnp.zeros((4, 3, 2)), jnp.ones((4, 3, 2))
    alpha = jnp.full((4, 1, 1), 0.5)
    a = jnp.array([0.5, 2.0])
    norm = np.sqrt(np.sum((np.arange(1.0, 7.0).reshape(3, 2) * np.array([0.5, 2.0])) ** 2))
    gp = losses.gradient_penalty(d_fn, real, fake, alpha, target=2.0, scale=a)
    assert float(gp) == pytest.approx((norm / 2.0 - 1.0) ** 2, rel=1e-6)


def test_classifier_loss():
    """The step's AC terms (AC-GAN: real labels only) against hand values and the tests'
    reference cross-entropy."""
    logits = jnp.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    logp = np.log(np.exp([2.0, 0.0, -1.0]) / np.exp([2.0, 0.0, -1.0]).sum())
    expected = -(logp[0] + np.log(1 / 3)) / 2
    labels = jnp.array([0, 2])
    unused = jnp.full((2, 3), jnp.nan)        # AC-GAN's D never reads its logits on fakes
    assert float(losses.d_class_loss(logits, labels, unused, labels, 1)) == pytest.approx(
        expected, rel=1e-6)
    assert float(losses.g_class_loss(logits, labels, 1)) == pytest.approx(expected, rel=1e-6)
    assert float(cross_entropy(logits, labels)) == pytest.approx(expected, rel=1e-6)


def test_adc_class_losses():
    """ADC-GAN, K = 2, logits [real 0, real 1, fake 0, fake 1]: D sends reals to class k and
    fakes to K + k; G's loss is CE(k) - CE(K + k) on its fakes."""
    logits = jnp.array([[1.0, 0.0, 2.0, -1.0], [0.0, 0.0, 0.0, 0.0]])
    logp = jax.nn.log_softmax(logits, axis=-1)
    y = jnp.array([1, 0])
    real_ce = -(logp[0, 1] + logp[1, 0]) / 2
    fake_ce = -(logp[0, 3] + logp[1, 2]) / 2
    assert float(losses.d_class_loss(logits, y, logits, y, 2)) == pytest.approx(
        float(real_ce + fake_ce), rel=1e-6)
    assert float(losses.g_class_loss(logits, y, 2)) == pytest.approx(
        float(real_ce - fake_ce), rel=1e-6)


def test_gradient_penalty_is_per_example_norm():
    """D(x) = ||x||^2 / 2 per example: gradient x_hat, so the slope is ||x_hat|| per example."""
    d_fn = lambda x: 0.5 * jnp.sum(x ** 2, axis=(1, 2))
    real = jnp.zeros((2, 2, 1))
    fake = jnp.array([[[3.0], [4.0]], [[0.6], [0.8]]])        # norms 5 and 1
    gp = losses.gradient_penalty(d_fn, real, fake, jnp.ones((2, 1, 1)))
    assert float(gp) == pytest.approx(((5 - 1) ** 2 + (1 - 1) ** 2) / 2, rel=1e-6)


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="train.loss"):
        losses.d_loss("wasserstein", REAL, FAKE)


def test_r1_penalty_of_a_linear_critic_is_its_squared_weight_norm():
    w = jnp.array([0.5, -2.0, 1.0])
    real = jnp.ones((4, 3)) * jnp.arange(4.0)[:, None]   # the gradient does not depend on x
    assert float(losses.r1_penalty(lambda x: x @ w, real)) == pytest.approx(5.25)
    # Quadratic critic D(x) = sum(x^2): |dD/dx|^2 = 4 |x|^2, averaged over the examples.
    assert float(losses.r1_penalty(lambda x: jnp.sum(x ** 2, axis=1), real)) == pytest.approx(
        4 * 3 * float(jnp.mean(jnp.arange(4.0) ** 2)))


def test_mode_seeking_is_the_inverse_output_to_latent_distance_ratio():
    z_a, z_b = jnp.zeros((2, 4)), jnp.full((2, 4), 0.5)       # mean |z_a - z_b| = 0.5
    fake_a = jnp.zeros((2, 8, 1))
    fake_b = jnp.full((2, 8, 1), 0.25)                        # mean |G_a - G_b| = 0.25
    assert float(losses.mode_seeking(fake_a, fake_b, z_a, z_b)) == pytest.approx(2.0, rel=1e-4)
    # Outputs twice as far apart: half the term. The same output for both latents: 1 / eps.
    assert float(losses.mode_seeking(fake_a, 2 * fake_b, z_a, z_b)) == pytest.approx(1.0, rel=1e-4)
    assert float(losses.mode_seeking(fake_a, fake_a, z_a, z_b)) == pytest.approx(1e5)

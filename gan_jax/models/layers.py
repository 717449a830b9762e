"""Convolution layers shared by the generators and discriminators.

Why this file exists: XLA:CPU lowers a transposed convolution (and the input
gradient of a strided one) to a convolution over a zero-dilated input, so 3 of
every 4 multiply-adds are on zeros and the slow kernel is used. WaveGAN written
with `nn.ConvTranspose` / `nn.Conv(strides=4)` runs ~10x slower than PyTorch on
a 2-core CPU (`jax-practice.md` §12). Every layer here can instead run as an
exact *stride-1* convolution on the low-rate side ("phase" form):

- strided conv (D): space-to-depth, then a stride-1 conv with ceil(k/s) taps;
- transposed conv (G): a stride-1 conv with s*C_out channels, then depth-to-space
  (the polyphase / sub-pixel form);
- nearest-neighbour x s followed by a conv (G, upsample="nn"): the same polyphase
  form, with the kernel taps summed per phase.

Parameters keep the reference (TensorFlow) shapes -- `[*k, C_in, C_out]` for
convs, `[*k, C_out, C_in]` for transposed convs -- so parameter counts and
checkpoint layouts are exactly the reference's; the kernel is rearranged inside
the jitted function by an einsum with a constant 0/1 matrix. Outputs match TF
"SAME" alignment exactly (tests compare against `nn.Conv` / `nn.ConvTranspose`).
`impl="xla"` keeps the plain formulation, which is usually fine on GPU/TPU.

Everything is N-D: 1-D for WaveGAN (`[B, T, C]`), 2-D for SpecGAN (`[B, H, W, C]`).
"""

from __future__ import annotations

import itertools
import math
import string
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

IMPLS = ("phase", "xla")


def _dn(nd: int, kernel: str):
    sp = "HWD"[:nd] if nd > 1 else "W"
    return ("N" + sp + "C", sp + kernel, "N" + sp + "C")


def _same_left(k: int, s: int) -> int:
    """TF 'SAME' left padding of a stride-s conv whose input length divides by s."""
    return max(k - s, 0) // 2


def _phases_down(k: int, s: int):
    """Strided conv as a stride-1 conv over s phases. Returns (M [T, s, k], pad)."""
    left = _same_left(k, s)
    pad_hi = -(-left // s) * s          # left padding rounded up to whole frames
    off = pad_hi - left                  # kernel tap j sits at padded position j + off
    taps = -(-(off + k) // s)
    m = np.zeros((taps, s, k), np.float32)
    for q in range(taps):
        for r in range(s):
            j = q * s + r - off
            if 0 <= j < k:
                m[q, r, j] = 1.0
    return m, (pad_hi // s, taps - 1 - pad_hi // s)


def _phases_transpose(k: int, s: int):
    """Transposed conv as s stride-1 convs. out[m*s + r] = sum_t V[t, r] y[m + t - pad_lo]."""
    left = _same_left(k, s)
    d_min, d_max = -((s - 1 + left) // s), (k - 1 - left) // s
    taps = d_max - d_min + 1
    m = np.zeros((taps, s, k), np.float32)
    for t in range(taps):
        for r in range(s):
            j = (d_max - t) * s + r + left
            if 0 <= j < k:
                m[t, r, j] = 1.0
    return m, (d_max, -d_min)


def _phases_nearest(k: int, s: int):
    """Nearest-neighbour upsampling by s, then a stride-1 'SAME' conv, as s convs."""
    left = (k - 1) // 2
    d_min, d_max = (-left) // s, (s - 1 + k - 1 - left) // s
    taps = d_max - d_min + 1
    m = np.zeros((taps, s, k), np.float32)
    for r in range(s):
        for j in range(k):
            m[(r + j - left) // s - d_min, r, j] += 1.0
    return m, (-d_min, d_max)


_PHASES = {"down": _phases_down, "transpose": _phases_transpose, "nearest": _phases_nearest}


def _phase_kernel(w, kind: str, strides: Sequence[int]):
    """Rearranges a `[*k, I, O]` kernel into `[*T, *s, I, O]` plus low-rate padding."""
    nd = len(strides)
    mats, pads = zip(*(_PHASES[kind](k, s) for k, s in zip(w.shape[:nd], strides)))
    letters = iter(string.ascii_letters)
    t, r, kk = ([next(letters) for _ in range(nd)] for _ in range(3))
    spec = ",".join(f"{t[i]}{r[i]}{kk[i]}" for i in range(nd))
    spec += f",{''.join(kk)}IO->{''.join(t)}{''.join(r)}IO"
    return jnp.einsum(spec, *(jnp.asarray(m, w.dtype) for m in mats), w), list(pads)


SMALL_INPUT = 32   # 1-D inputs up to this length keep their padding unfused


def _unfused(x):
    """x, kept from fusing into the 1-D conv that reads it when it is short.

    Why: XLA fuses the caller's jnp.pad into a conv as conv padding, and XLA:CPU runs a
    padded 1-D conv over a few positions ~30-100x slower than the same conv on the padded
    input (WaveGAN at 4096 samples, G's first layer, 4 positions: 67 against 0.6 ms). Not
    2-D: with their small convs unfused, SpecGAN's and GANSynth's quick steps ran 25-30 %
    slower (benchmarks/RESULTS.md).
    """
    return jax.lax.optimization_barrier(x) if x.ndim == 3 and x.shape[1] <= SMALL_INPUT else x


def _conv_valid_raw(x, w):
    nd = x.ndim - 2
    return jax.lax.conv_general_dilated(_unfused(x), w, (1,) * nd, "VALID",
                                        dimension_numbers=_dn(nd, "IO"))


@jax.custom_vjp
def conv_valid(x, w):
    """Stride-1 VALID conv, x [B, *L, I], w [*T, I, O], with a hand-written VJP.

    Why: JAX's own transpose rules make the *double* backward (the WGAN-GP penalty's
    gradient w.r.t. D's kernels) a weight-gradient convolution over a fully padded input
    in a layout XLA:CPU runs ~15x slower than the forward pass. Here the input gradient
    is again this conv (flipped kernel, fully padded cotangent) and the kernel gradient
    is one matmul per tap, so every order of derivative stays on fast paths.
    """
    return _conv_valid_raw(x, w)


def _conv_valid_fwd(x, w):
    return _conv_valid_raw(x, w), (x, w)


def _conv_valid_bwd(res, g):
    x, w = res
    nd = x.ndim - 2
    taps = w.shape[:nd]
    g_full = jnp.pad(g, [(0, 0)] + [(t - 1, t - 1) for t in taps] + [(0, 0)])
    dx = conv_valid(g_full, jnp.swapaxes(jnp.flip(w, axis=tuple(range(nd))), -1, -2))
    return dx, _kernel_grad(x, g, taps)


def _kernel_grad(x, g, taps):
    """dw[*t, i, o] = sum over b, l of x[b, l + t, i] g[b, l, o], for the kernel [*taps, I, O].

    1-D: one convolution whose features are the batch (x as [I, L', B], g as a [L, B, O]
    kernel), 1.1-3x faster than the per-tap matmuls below at WaveGAN's quick shapes (9 of
    its 10 layers, 2-core CPU, benchmarks/RESULTS.md); not for inputs of a few positions,
    where JAX's derivatives of that conv (R1's double backward) are padded convs on XLA:CPU's
    slow path (`_unfused`). 2-D: one matmul per tap, which was faster there for all but one
    of SpecGAN's and GANSynth's quick layers (up to 3.5x).
    """
    nd = x.ndim - 2
    if nd == 1 and x.shape[1] > SMALL_INPUT:
        dw = jax.lax.conv_general_dilated(jnp.moveaxis(x, (0, 2), (2, 0)), jnp.moveaxis(g, 0, 1),
                                          (1,), "VALID", dimension_numbers=_dn(1, "IO"))
        return jnp.moveaxis(dw, 0, 1)
    out = g.shape[1:-1]
    dw = jnp.stack([
        jnp.einsum("b...i,b...o->io", x[(slice(None),) + tuple(
            slice(o, o + n) for o, n in zip(offset, out))], g)
        for offset in itertools.product(*(range(t) for t in taps))])
    return dw.reshape(tuple(taps) + dw.shape[-2:])


conv_valid.defvjp(_conv_valid_fwd, _conv_valid_bwd)


def conv_same(x, w):
    """Stride-1 TF 'SAME' conv (left padding (k-1)//2) on the fast VJP path."""
    pads = [((k - 1) // 2, k - 1 - (k - 1) // 2) for k in w.shape[:-2]]
    return conv_valid(jnp.pad(x, [(0, 0)] + pads + [(0, 0)]), w)


def space_to_depth(x, strides: Sequence[int]):
    """[B, *L, C] -> [B, *(L/s), prod(s)*C], phases major, channels minor."""
    nd = len(strides)
    b, *dims, c = x.shape
    shape = [b]
    for d, s in zip(dims, strides):
        shape += [d // s, s]
    x = x.reshape(shape + [c])
    perm = [0] + [1 + 2 * i for i in range(nd)] + [2 + 2 * i for i in range(nd)] + [2 * nd + 1]
    return x.transpose(perm).reshape([b] + [d // s for d, s in zip(dims, strides)] + [-1])


def depth_to_space(x, strides: Sequence[int]):
    """[B, *L, prod(s)*C] -> [B, *(L*s), C], the inverse of `space_to_depth`."""
    nd = len(strides)
    b, *dims, _ = x.shape
    x = x.reshape([b] + dims + list(strides) + [-1])
    perm = [0]
    for i in range(nd):
        perm += [1 + i, 1 + nd + i]
    perm.append(1 + 2 * nd)
    return x.transpose(perm).reshape([b] + [d * s for d, s in zip(dims, strides)] + [-1])


def conv_down(x, w, strides: Sequence[int]):
    """TF 'SAME' strided conv of x [B, *L, I] with w [*k, I, O] as a stride-1 conv."""
    for d, s in zip(x.shape[1:-1], strides):
        if d % s:
            raise ValueError(f"conv_down: spatial size {d} is not divisible by stride {s}")
    v, pads = _phase_kernel(w, "down", strides)
    nd = len(strides)
    v = v.reshape(v.shape[:nd] + (-1, w.shape[-1]))            # [*T, s*I, O]
    x = jnp.pad(space_to_depth(x, strides), [(0, 0)] + pads + [(0, 0)])
    return conv_valid(x, v)


def _conv_up(x, w_kio, kind: str, strides: Sequence[int]):
    v, pads = _phase_kernel(w_kio, kind, strides)
    nd = len(strides)
    i, o = w_kio.shape[-2:]
    perm = list(range(nd)) + [2 * nd] + list(range(nd, 2 * nd)) + [2 * nd + 1]
    v = v.transpose(perm).reshape(v.shape[:nd] + (i, -1))       # [*T, I, s*O]
    y = conv_valid(jnp.pad(x, [(0, 0)] + pads + [(0, 0)]), v)
    return depth_to_space(y, strides)


def conv_transpose(x, w, strides: Sequence[int]):
    """TF conv_transpose 'SAME' of x [B, *L, I], w [*k, O, I] (TF layout) -> [B, *(L*s), O]."""
    nd = len(strides)
    return _conv_up(x, jnp.swapaxes(w, nd, nd + 1), "transpose", strides)


def conv_nearest_up(x, w, strides: Sequence[int]):
    """Nearest-neighbour upsampling by `strides`, then a 'SAME' stride-1 conv, w [*k, I, O]."""
    return _conv_up(x, w, "nearest", strides)


def _xla_conv(x, w, strides):
    nd = len(strides)
    return jax.lax.conv_general_dilated(x, w, tuple(strides), "SAME", dimension_numbers=_dn(nd, "IO"))


def _xla_conv_transpose(x, w, strides):
    nd = len(strides)
    return jax.lax.conv_transpose(x, w, tuple(strides), "SAME", dimension_numbers=_dn(nd, "IO"),
                                                                transpose_kernel=True)


def _xla_nearest_up(x, w, strides):
    for axis, s in enumerate(strides, start=1):
        x = jnp.repeat(x, s, axis=axis)
    return _xla_conv(x, w, (1,) * len(strides))


def spectral_normalize(w, n_iter: int = 10):
    """w / its largest singular value, the last axis being the outputs: SNGAN's spectral
    norm (Miyato et al. 2018). The power iteration restarts from a fixed vector on every
    call, so there is no state to carry through the train step; as in SNGAN, the singular
    vectors are constants of the gradient."""
    m = w.reshape(-1, w.shape[-1])
    u = jnp.full((m.shape[1],), 1.0 / math.sqrt(m.shape[1]), m.dtype)
    for _ in range(n_iter):
        v = m @ u
        v = v / (jnp.linalg.norm(v) + 1e-12)
        u = m.T @ v
        u = u / (jnp.linalg.norm(u) + 1e-12)
    u, v = jax.lax.stop_gradient(u), jax.lax.stop_gradient(v)
    return w / (v @ (m @ u))


class Dense(nn.Module):
    """nn.Dense (glorot-uniform kernel, zero bias, the same parameter names), optionally
    spectrally normalised."""
    features: int
    spectral_norm: bool = False

    @nn.compact
    def __call__(self, x):
        w = self.param("kernel", nn.initializers.glorot_uniform(), (x.shape[-1], self.features))
        if self.spectral_norm:
            w = spectral_normalize(w)
        y = x @ w
        return y + _bias(self, y)


def _bias(module: nn.Module, y):
    b = module.param("bias", nn.initializers.zeros_init(), (y.shape[-1],))
    return b.reshape((1,) * (y.ndim - 1) + b.shape)   # explicit rank: tests forbid promotion


class Conv(nn.Module):
    """'SAME' conv with stride; `impl="phase"` runs it as a stride-1 conv (see module doc)."""
    features: int
    kernel_size: Sequence[int]
    strides: Sequence[int] | None = None
    use_bias: bool = True
    impl: str = "phase"
    spectral_norm: bool = False

    @nn.compact
    def __call__(self, x):
        nd = len(self.kernel_size)
        strides = tuple(self.strides or (1,) * nd)
        w = self.param("kernel", nn.initializers.glorot_uniform(),
                                      (*self.kernel_size, x.shape[-1], self.features))
        if self.spectral_norm:
            w = spectral_normalize(w)
        if self.impl == "xla":
            y = _xla_conv(x, w, strides)
        elif any(s > 1 for s in strides):
            y = conv_down(x, w, strides)
        else:
            y = conv_same(x, w)
        if self.use_bias:
            y = y + _bias(self, y)
        return y


UPSAMPLE_MODES = ("zeros", "balanced", "nn", "linear", "cubic")


def balance_phases(w, strides: Sequence[int]):
    """`w` [*k, ...] less, in each of the prod(s) groups of taps that a transposed conv of
    stride s applies to one output phase, its share of the group's difference from the mean
    group sum: every phase then has the same DC gain.

    A transposed conv of stride s is s stride-1 convs, one per output phase, each with
    every s-th tap. A constant input (a bias, or the mean of a ReLU's output) then comes
    out as a pattern of period s unless the s tap sums agree: the tones at each layer's
    rate and its harmonics that WaveGAN's G makes in every clip (benchmarks/QUALITY.md).
    Nearest-neighbour upsampling rules them out by filtering every layer with a box, which
    also dulls everything above; this removes only the period-s part of the DC response.
    A linear projection of the kernel, so the optimiser works on the balanced kernel's
    gradient and the cost is a few small sums per step.
    """
    nd = len(strides)
    ohs = [np.eye(s, dtype=np.float32)[np.arange(k) % s] for k, s in zip(w.shape[:nd], strides)]
    letters = string.ascii_letters
    k_, r_ = letters[:nd], letters[nd:2 * nd]
    kr = ",".join(f"{k_[i]}{r_[i]}" for i in range(nd))
    sums = jnp.einsum(f"{k_}...,{kr}->{r_}...", w, *ohs)                    # [*s, ...]
    counts = np.einsum(f"{kr}->{r_}", *ohs)                                 # taps per phase
    excess = (sums - sums.mean(axis=tuple(range(nd)), keepdims=True)) / counts.reshape(
        counts.shape + (1,) * (w.ndim - nd))
    return w - jnp.einsum(f"{r_}...,{kr}->{k_}...", excess, *ohs)


class UpConv(nn.Module):
    """Upsampling by `strides` then a conv: `mode="zeros"` is TF's conv_transpose 'SAME'
    (kernel `[*k, O, I]`, TF layout), "balanced" the same with `balance_phases`'s kernel
    (not in the papers); "nn", "linear", "cubic" resize then conv (`[*k, I, O]`)."""
    features: int
    kernel_size: Sequence[int]
    strides: Sequence[int]
    mode: str = "zeros"
    impl: str = "phase"

    @nn.compact
    def __call__(self, x):
        k, s, cin = tuple(self.kernel_size), tuple(self.strides), x.shape[-1]
        init = nn.initializers.glorot_uniform()
        if self.mode in ("zeros", "balanced"):
            w = self.param("kernel", init, (*k, self.features, cin))
            if self.mode == "balanced":
                w = balance_phases(w, s)
            y = (conv_transpose if self.impl == "phase" else _xla_conv_transpose)(x, w, s)
        elif self.mode == "nn":
            w = self.param("kernel", init, (*k, cin, self.features))
            y = (conv_nearest_up if self.impl == "phase" else _xla_nearest_up)(x, w, s)
        elif self.mode in ("linear", "cubic"):
            # Half-pixel-centred resize (jax.image.resize). The reference WaveGAN code has no
            # linear/cubic option (SpecGAN's TF1 resize used the older, asymmetric alignment).
            w = self.param("kernel", init, (*k, cin, self.features))
            shape = (x.shape[0], *(d * f for d, f in zip(x.shape[1:-1], s)), cin)
            up = jax.image.resize(x, shape, self.mode)
            y = _xla_conv(up, w, (1,) * len(s)) if self.impl == "xla" else conv_same(up, w)
        else:
            raise ValueError(f"upsample mode {self.mode!r} is not one of {', '.join(UPSAMPLE_MODES)}")
        return y + _bias(self, y)


def phase_shuffle(x, key, rad: int, per_example: bool = False):
    """WaveGAN phase shuffle: out[t] = x[t - s], s ~ U{-rad..rad}, reflected at the edges.

    The reference draws one shift for the whole batch (`per_example=False`); the PyTorch
    ports draw one per example. x: [B, T, C].
    """
    if rad <= 0:
        return x
    b, t, _ = x.shape
    padded = jnp.pad(x, ((0, 0), (rad, rad), (0, 0)), mode="reflect")
    if not per_example:
        s = jax.random.randint(key, (), -rad, rad + 1)
        return jax.lax.dynamic_slice_in_dim(padded, rad - s, t, axis=1)
    s_B = jax.random.randint(key, (b,), -rad, rad + 1)
    idx_BxT = (rad - s_B)[:, None] + jnp.arange(t)[None, :]
    return jnp.take_along_axis(padded, idx_BxT[:, :, None], axis=1)


def minibatch_stddev(x_BxN, group: int | None = None, eps: float = 1e-8):
    """[B]: per group of `group` consecutive examples (None: the whole batch), the mean over
    features of sqrt(population variance over the group + eps) -- PGGAN's statistic, which
    lets D see a batch's lack of variety (mode collapse). A group that does not divide B
    shrinks to gcd(B, group)."""
    b = x_BxN.shape[0]
    g = b if group is None else math.gcd(b, group)
    x = x_BxN.reshape(b // g, g, -1)
    var = jnp.mean(jnp.square(x - jnp.mean(x, axis=1, keepdims=True)), axis=1)
    s = jnp.mean(jnp.sqrt(var + eps), axis=-1, keepdims=True)
    return jnp.broadcast_to(s, (b // g, g)).reshape(b)   # not jnp.repeat: a gather, slow in R1


def class_projection(features_BxN, label_B, num_classes: int):
    """<embedding(label), features> (Miyato & Koyama 2018), added to a conditional D's logit
    so that "real" means real *and* of this class: [B], or [B, M] for labels [B, M] (M
    labels of each example, scored from the same features). Call it inside D's compact
    method: it creates D's "class_embedding"."""
    embed_Bx___xN = nn.Embed(num_classes, features_BxN.shape[-1],
                             embedding_init=nn.initializers.glorot_uniform(),
                             name="class_embedding")(label_B)
    return jnp.einsum("b...n,bn->b...", embed_Bx___xN, features_BxN)


def concat_minibatch_stddev(x_Bx___xC, group: int | None = None, eps: float = 1e-8,
                            hold: bool = False):
    """x with its `minibatch_stddev` appended as one more channel, constant per example.
    hold: the channel is a constant to differentiation (no gradient reaches x through it)."""
    s_B = minibatch_stddev(x_Bx___xC, group, eps)
    s_B = (jax.lax.stop_gradient(s_B) if hold else s_B).astype(x_Bx___xC.dtype)
    s = jnp.broadcast_to(s_B.reshape((-1,) + (1,) * (x_Bx___xC.ndim - 1)),
                         x_Bx___xC.shape[:-1] + (1,))
    return jnp.concatenate([x_Bx___xC, s], axis=-1)

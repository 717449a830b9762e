"""Scores for generated audio from a classifier's outputs, in numpy alone (imports anywhere).

Inputs are a classifier's softmax probabilities per clip (`probs_NxK`, rows sum to 1) and its
penultimate-layer features (`feats_NxD`):

- Inception score (WaveGAN paper, Salimans et al. 2016): `inception_score`, `inception_score_all`,
  with `label_entropy` and `class_histogram` to tell confident from diverse.
- Frechet distance between feature Gaussians: `feature_stats`, `frechet_distance`.
- NDB and JSD over k-means bins of the training features (Richardson & Weiss 2018, used by the
  GANSynth paper): `kmeans`, `assign_bins`, `ndb_jsd`.
- Memorisation check: `nearest_distance` (generated -> nearest training clip, beside
  held-out -> training).
"""

from __future__ import annotations

import math

import numpy as np

# Rows per chunk of a distance matrix are chosen so that one chunk holds about this many
# float64 entries (8 MiB): N=20000 against 50 centroids or 20000 training rows stays small.
_CHUNK_ENTRIES = 1 << 20


def _probs(probs_NxK) -> np.ndarray:
    p = np.asarray(probs_NxK, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"probs_NxK must be 2-D with N, K >= 1, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("probs_NxK must be finite and non-negative (softmax outputs, not logits)")
    if not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("probs_NxK rows must sum to 1 (softmax outputs)")
    return p


def _feats(feats_NxD, name: str = "feats_NxD", min_rows: int = 1) -> np.ndarray:
    x = np.asarray(feats_NxD, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < min_rows or x.shape[1] == 0:
        raise ValueError(f"{name} must be 2-D with N >= {min_rows}, D >= 1, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite")
    return x


def _xlogy_ratio(p, q) -> np.ndarray:
    """p * log(p / q) elementwise, with 0 log 0 = 0 (q > 0 wherever p > 0)."""
    out = np.zeros(np.broadcast_shapes(np.shape(p), np.shape(q)))
    p, q = np.broadcast_to(p, out.shape), np.broadcast_to(q, out.shape)
    mask = p > 0
    out[mask] = p[mask] * (np.log(p[mask]) - np.log(q[mask]))
    return out


def _split_score(part_MxK: np.ndarray) -> float:
    """exp(mean_i KL(p(y|x_i) || p(y))) with p(y) the mean of this part's rows."""
    py_K = part_MxK.mean(axis=0)
    return float(np.exp(np.mean(_xlogy_ratio(part_MxK, py_K[None, :]).sum(axis=1))))


def inception_score(probs_NxK, splits: int = 10) -> tuple[float, float]:
    """Inception score as in the WaveGAN paper's eval code: (mean, std) over `splits` parts.

    The N rows are cut into `splits` contiguous parts of near-equal size (np.array_split); each
    part scores exp(mean_i KL(p(y|x_i) || p(y))) with p(y) that part's mean prediction. The std
    is numpy's population std (ddof=0), as in the original Salimans et al. code.
    """
    p = _probs(probs_NxK)
    if splits < 1:
        raise ValueError(f"splits must be >= 1, got {splits}")
    if p.shape[0] < splits:
        raise ValueError(f"need at least splits={splits} rows of probs_NxK, got N={p.shape[0]}")
    scores = [_split_score(part) for part in np.array_split(p, splits, axis=0)]
    return float(np.mean(scores)), float(np.std(scores))


def inception_score_all(probs_NxK) -> float:
    """Inception score over all N clips at once (one split).

    The 10-split figure cannot reach the class count at small n: each split of n/10 clips
    estimates p(y) from few clips, so its marginal is lumpy and the KL to it is small. Both are
    therefore reported; this one tends to K for confident, class-balanced output.
    """
    return _split_score(_probs(probs_NxK))


def label_entropy(probs_NxK) -> float:
    """Mean per-clip entropy of p(y|x) in nats: low means the classifier is confident."""
    p = _probs(probs_NxK)
    return float(np.mean(-_xlogy_ratio(p, np.ones_like(p)).sum(axis=1)))


def class_histogram(probs_NxK) -> np.ndarray:
    """int64 counts of the argmax class per clip, length K: which classes are (not) generated."""
    p = _probs(probs_NxK)
    return np.bincount(np.argmax(p, axis=1), minlength=p.shape[1]).astype(np.int64)


def feature_stats(feats_NxD) -> tuple[np.ndarray, np.ndarray]:
    """(mean [D], covariance [D, D]) in float64, the covariance by np.cov(rowvar=False)."""
    x = _feats(feats_NxD, min_rows=2)
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def _psd_sqrt(s_DxD: np.ndarray) -> np.ndarray:
    """Symmetric square root of a PSD matrix by eigh, negative rounding in eigenvalues clipped."""
    w, u = np.linalg.eigh((s_DxD + s_DxD.T) / 2)
    return (u * np.sqrt(np.clip(w, 0.0, None))) @ u.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance between Gaussians: ||mu1-mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2}).

    Tr((S1 S2)^{1/2}) without scipy, stably for singular covariances (features with N < D):
    with S = U diag(w) U^T by eigh (w clipped at 0), M = sqrt(S1) S2 sqrt(S1) is symmetric PSD
    with the eigenvalues of S1 S2, so the trace is sum sqrt(eig(M)). M = A^T A for
    A = sqrt(S2) sqrt(S1), so that sum is the sum of A's singular values, which is what is
    computed: sqrt(eigvalsh(M)) turns rounding of size eps ||M|| in each zero eigenvalue into
    sqrt(eps ||M||) (FD of identical rank-49 stats at D=128, scale 30: -4e-3), while the
    singular values carry only eps ||A|| (there: -3e-10, relative 1e-15). Rounding can still
    leave a tiny negative result; it is not clipped.

    The estimate from n clips is biased upwards, by an amount that shrinks with n: compare
    distances only between sample sets of equal n.
    """
    mu1, mu2 = np.asarray(mu1, dtype=np.float64), np.asarray(mu2, dtype=np.float64)
    s1, s2 = np.asarray(sigma1, dtype=np.float64), np.asarray(sigma2, dtype=np.float64)
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise ValueError(f"mu1 and mu2 must be 1-D of one length, got {mu1.shape}, {mu2.shape}")
    d = mu1.shape[0]
    if s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"sigma1 and sigma2 must be [{d}, {d}], got {s1.shape}, {s2.shape}")
    tr_sqrt = np.sum(np.linalg.svd(_psd_sqrt(s2) @ _psd_sqrt(s1), compute_uv=False))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt)


def _chunk_rows(m: int) -> int:
    return max(1, _CHUNK_ENTRIES // max(m, 1))


def _nearest(x_NxD: np.ndarray, c_MxD: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index [N], squared distance [N]) of the nearest row of c per row of x, chunked.

    Squared distances by ||x||^2 - 2 x.c + ||c||^2 (clipped at 0): fast, good for the argmin.
    """
    c_sq_M = np.einsum("md,md->m", c_MxD, c_MxD)
    idx_N = np.empty(x_NxD.shape[0], dtype=np.int64)
    d2_N = np.empty(x_NxD.shape[0])
    step = _chunk_rows(c_MxD.shape[0])
    for start in range(0, x_NxD.shape[0], step):
        x = x_NxD[start:start + step]
        d2 = np.einsum("nd,nd->n", x, x)[:, None] - 2.0 * (x @ c_MxD.T) + c_sq_M[None, :]
        i = np.argmin(d2, axis=1)
        idx_N[start:start + step] = i
        d2_N[start:start + step] = np.maximum(d2[np.arange(len(i)), i], 0.0)
    return idx_N, d2_N


def _kmeans_pp(x_NxD: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding: each next centroid drawn with probability ~ squared distance."""
    n = x_NxD.shape[0]
    centroids = np.empty((k, x_NxD.shape[1]))
    centroids[0] = x_NxD[rng.integers(n)]
    x_sq_N = np.einsum("nd,nd->n", x_NxD, x_NxD)

    def sq_dist_to(c_D):
        return np.maximum(x_sq_N - 2.0 * (x_NxD @ c_D) + c_D @ c_D, 0.0)

    d2_N = sq_dist_to(centroids[0])
    for j in range(1, k):
        total = d2_N.sum()
        i = rng.choice(n, p=d2_N / total) if total > 0 else rng.integers(n)
        centroids[j] = x_NxD[i]
        d2_N = np.minimum(d2_N, sq_dist_to(centroids[j]))
    return centroids


def kmeans(feats_NxD, k: int, *, seed: int = 0, iters: int = 50) -> np.ndarray:
    """Centroids [k, D] by k-means++ seeding then Lloyd iterations; deterministic in `seed`.

    The bins of NDB/JSD are these clusters of the training features. An emptied cluster is
    re-seeded at the point farthest from its centroid (distinct points for several). Stops
    early once no assignment changes.
    """
    x = _feats(feats_NxD)
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= N, got k={k}, N={n}")
    if iters < 0:
        raise ValueError(f"iters must be >= 0, got {iters}")
    centroids = _kmeans_pp(x, k, np.random.default_rng(seed))
    labels = None
    for _ in range(iters):
        new_labels, d2_N = _nearest(x, centroids)
        if labels is not None and np.array_equal(new_labels, labels):
            break
        labels = new_labels
        counts_K = np.bincount(labels, minlength=k)
        sums_KxD = np.zeros_like(centroids)
        np.add.at(sums_KxD, labels, x)
        full = counts_K > 0
        centroids[full] = sums_KxD[full] / counts_K[full, None]
        empty = np.flatnonzero(~full)
        if empty.size:
            farthest = np.argsort(-d2_N, kind="stable")[:empty.size]
            centroids[empty] = x[farthest]
            labels = None   # moved centroids: reassign before testing convergence
    return centroids


def assign_bins(feats_NxD, centroids_KxD) -> np.ndarray:
    """Index [N] (int64) of the nearest centroid per row: the clip's NDB bin."""
    x = _feats(feats_NxD)
    c = _feats(centroids_KxD, "centroids_KxD")
    if c.shape[1] != x.shape[1]:
        raise ValueError(f"feats_NxD has D={x.shape[1]} but centroids_KxD has D={c.shape[1]}")
    return _nearest(x, c)[0]


def _bin_counts(bins, k: int, name: str) -> np.ndarray:
    b = np.asarray(bins)
    if b.ndim != 1 or b.size == 0 or not np.issubdtype(b.dtype, np.integer):
        raise ValueError(f"{name} must be a non-empty 1-D array of ints, got {b.dtype} {b.shape}")
    if b.min() < 0 or b.max() >= k:
        raise ValueError(f"{name} must lie in [0, {k}), got [{b.min()}, {b.max()}]")
    return np.bincount(b, minlength=k)


def ndb_jsd(train_bins, gen_bins, k: int, alpha: float = 0.05) -> dict:
    """NDB and JSD (Richardson & Weiss 2018, "On GANs and GMMs"; used by the GANSynth paper).

    Per bin a two-proportion z-test of the training proportion against the generated one
    (pooled proportion p, standard error sqrt(p (1-p) (1/n1 + 1/n2))); a bin is statistically
    different when the two-sided p-value is below `alpha`. A bin with pooled proportion 0 or 1
    has equal proportions and is not different. Returns {"ndb": count of such bins,
    "ndb_k": ndb / k, "jsd": Jensen-Shannon divergence in nats between the two bin-proportion
    histograms (0 to log 2)}. Inputs are bin indices in [0, k), as from `assign_bins`.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    c1, c2 = _bin_counts(train_bins, k, "train_bins"), _bin_counts(gen_bins, k, "gen_bins")
    n1, n2 = int(c1.sum()), int(c2.sum())
    p1, p2 = c1 / n1, c2 / n2
    ndb = 0
    for j in range(k):
        pooled = (c1[j] + c2[j]) / (n1 + n2)
        se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
        if se > 0:
            z = (p1[j] - p2[j]) / se
            ndb += math.erfc(abs(z) / math.sqrt(2.0)) < alpha   # two-sided p-value
    m = (p1 + p2) / 2
    jsd = 0.5 * _xlogy_ratio(p1, m).sum() + 0.5 * _xlogy_ratio(p2, m).sum()
    return {"ndb": int(ndb), "ndb_k": ndb / k, "jsd": float(jsd)}


def nearest_distance(a_NxD, b_MxD) -> float:
    """Mean over rows of a of the Euclidean distance to the nearest row of b, chunked.

    A memorisation check: generated -> nearest training clip, read beside held-out -> training
    (a generator that copies its training data scores well below the held-out figure). The
    nearest row is found from expanded squared distances, then its distance recomputed
    directly, so that a == b gives exactly 0.
    """
    a = _feats(a_NxD, "a_NxD")
    b = _feats(b_MxD, "b_MxD")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a_NxD has D={a.shape[1]} but b_MxD has D={b.shape[1]}")
    idx_N, _ = _nearest(a, b)
    return float(np.mean(np.linalg.norm(a - b[idx_N], axis=1)))

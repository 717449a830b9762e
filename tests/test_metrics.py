"""gan_jax.metrics against closed forms and hand-computed cases."""

import math

import numpy as np
import pytest

from gan_jax import metrics


def one_hot(labels, k):
    return np.eye(k)[np.asarray(labels)]


# --- inception score ---------------------------------------------------------------------

def test_is_one_hot_balanced_is_class_count():
    k = 7
    probs = one_hot(np.tile(np.arange(k), 30), k)
    assert abs(metrics.inception_score_all(probs) - k) < 1e-9
    # 10 splits of 21 rows, each holding every class 3 times: K too, std 0.
    mean, std = metrics.inception_score(probs, splits=10)
    assert abs(mean - k) < 1e-9 and std < 1e-12


def test_is_identical_rows_is_one():
    probs = np.tile([0.2, 0.3, 0.5], (40, 1))
    assert abs(metrics.inception_score_all(probs) - 1.0) < 1e-12
    mean, std = metrics.inception_score(probs, splits=4)
    assert abs(mean - 1.0) < 1e-12 and std == 0.0


def test_is_hand_computed():
    # p(y) = [0.75, 0.25]; KL rows: 0.5 log(4/3) and log(4/3); IS = (4/3)^0.75.
    probs = np.array([[0.5, 0.5], [1.0, 0.0]])
    assert abs(metrics.inception_score_all(probs) - (4 / 3) ** 0.75) < 1e-12


def test_is_small_n_ten_splits_below_class_count():
    # 20 balanced one-hot clips over 10 classes: all at once 10, but each split of 2 clips sees
    # at most 2 classes, so the 10-split score is at most 2.
    probs = one_hot(np.tile(np.arange(10), 2), 10)
    assert abs(metrics.inception_score_all(probs) - 10) < 1e-9
    assert metrics.inception_score(probs, splits=10)[0] <= 2 + 1e-9


def test_is_uneven_splits_follow_array_split():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(7, 4))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    parts = [probs[0:3], probs[3:5], probs[5:7]]    # np.array_split(7, 3): 3, 2, 2
    scores = []
    for part in parts:
        py = part.mean(axis=0)
        scores.append(math.exp(np.mean(np.sum(part * np.log(part / py), axis=1))))
    mean, std = metrics.inception_score(probs, splits=3)
    assert abs(mean - np.mean(scores)) < 1e-12
    assert abs(std - np.std(scores)) < 1e-12
    assert std > 0


def test_is_identical_splits_std_zero():
    block = one_hot([0, 1, 1, 2], 3) * 0.7 + 0.1      # rows sum to 1
    mean, std = metrics.inception_score(np.tile(block, (5, 1)), splits=5)
    assert std == 0.0
    assert abs(mean - metrics.inception_score_all(block)) < 1e-12


def test_is_fewer_rows_than_splits_raises():
    with pytest.raises(ValueError, match="splits"):
        metrics.inception_score(one_hot([0, 1, 2], 3), splits=10)


def test_probs_validation():
    with pytest.raises(ValueError, match="2-D"):
        metrics.inception_score_all(np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="logits"):
        metrics.label_entropy(np.array([[2.0, -1.0]]))
    with pytest.raises(ValueError, match="sum to 1"):
        metrics.class_histogram(np.array([[0.2, 0.2]]))


# --- entropy and histogram -------------------------------------------------------------------

def test_label_entropy():
    assert abs(metrics.label_entropy(np.full((6, 5), 0.2)) - math.log(5)) < 1e-12
    assert metrics.label_entropy(one_hot([0, 3, 2], 4)) == 0.0
    assert abs(metrics.label_entropy(np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]]))
               - math.log(2) / 2) < 1e-12


def test_class_histogram():
    probs = np.array([[0.1, 0.9, 0.0, 0.0], [0.6, 0.4, 0.0, 0.0], [0.0, 0.2, 0.0, 0.8],
                      [0.3, 0.7, 0.0, 0.0]])
    hist = metrics.class_histogram(probs)
    assert hist.dtype == np.int64
    np.testing.assert_array_equal(hist, [1, 2, 0, 1])


# --- Frechet distance -----------------------------------------------------------------------

def random_spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.1 * np.eye(d)


def test_feature_stats():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 3)).astype(np.float32)
    mu, sigma = metrics.feature_stats(x)
    assert mu.dtype == np.float64 and sigma.dtype == np.float64 and sigma.shape == (3, 3)
    np.testing.assert_allclose(mu, x.astype(np.float64).mean(axis=0), rtol=1e-12)
    centred = x.astype(np.float64) - mu
    np.testing.assert_allclose(sigma, centred.T @ centred / 49, rtol=1e-10)
    # D = 1 still gives a [1, 1] covariance.
    assert metrics.feature_stats(x[:, :1])[1].shape == (1, 1)


def test_fd_identical_is_zero():
    rng = np.random.default_rng(2)
    mu, sigma = rng.normal(size=6), random_spd(rng, 6)
    assert abs(metrics.frechet_distance(mu, sigma, mu, sigma)) < 1e-6


def test_fd_shifted_means():
    rng = np.random.default_rng(3)
    sigma = random_spd(rng, 4)
    mu1, d = rng.normal(size=4), np.array([1.0, -2.0, 0.5, 3.0])
    assert abs(metrics.frechet_distance(mu1, sigma, mu1 + d, sigma) - d @ d) < 1e-9


def test_fd_diagonal_covariances():
    a, b = np.array([1.0, 4.0, 0.25, 9.0]), np.array([4.0, 1.0, 1.0, 0.0])
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)      # 1 + 1 + 0.25 + 9
    got = metrics.frechet_distance(np.zeros(4), np.diag(a), np.zeros(4), np.diag(b))
    assert abs(got - expected) < 1e-12 and abs(expected - 11.25) < 1e-12


def test_fd_matches_eig_square_root():
    rng = np.random.default_rng(4)
    for _ in range(5):
        mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
        s1, s2 = random_spd(rng, 5), random_spd(rng, 5)
        vals, vecs = np.linalg.eig(s1 @ s2)
        sqrt_prod = (vecs * np.sqrt(vals.astype(complex))) @ np.linalg.inv(vecs)
        np.testing.assert_allclose(sqrt_prod @ sqrt_prod, s1 @ s2, atol=1e-8)
        direct = (np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2)
                  - 2 * np.trace(sqrt_prod).real)
        got = metrics.frechet_distance(mu1, s1, mu2, s2)
        assert abs(got - direct) < 1e-8 * max(1.0, abs(direct))


def test_fd_near_singular_non_negative():
    rng = np.random.default_rng(5)
    for _ in range(20):
        mu1, s1 = metrics.feature_stats(rng.normal(size=(4, 16)))      # rank 3 of 16
        mu2, s2 = metrics.feature_stats(rng.normal(size=(6, 16)))
        assert metrics.frechet_distance(mu1, s1, mu2, s2) > 0
        assert metrics.frechet_distance(mu1, s1, mu1, s1) >= -1e-12 * np.trace(s1)


def test_fd_singular_identical_is_zero_at_scale():
    # Rank 49 of 128 at feature scale 30: sqrt(eigvalsh(sqrt(S) S sqrt(S))) gives about -4e-3
    # here (each zero eigenvalue's rounding, square-rooted); the singular values stay at 1e-10.
    mu, sigma = metrics.feature_stats(np.random.default_rng(9).normal(size=(50, 128)) * 30)
    assert abs(metrics.frechet_distance(mu, sigma, mu, sigma)) < 1e-6


def test_fd_shape_errors():
    with pytest.raises(ValueError, match="mu1"):
        metrics.frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="sigma"):
        metrics.frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(2))


# --- k-means and bins -----------------------------------------------------------------------

CENTRES = np.array([[-5.0, 0.0], [0.0, 5.0], [5.0, -1.0]])


def blobs(seed=0, n=200):
    rng = np.random.default_rng(seed)
    return np.concatenate([c + 0.1 * rng.normal(size=(n, 2)) for c in CENTRES])


def test_kmeans_recovers_blobs():
    x = blobs()
    for seed in range(3):
        c = metrics.kmeans(x, 3, seed=seed)
        assert c.shape == (3, 2)
        np.testing.assert_allclose(c[np.argsort(c[:, 0])], CENTRES, atol=0.1)


def test_kmeans_deterministic_in_seed():
    x = np.random.default_rng(6).normal(size=(300, 4))
    np.testing.assert_array_equal(metrics.kmeans(x, 5, seed=3), metrics.kmeans(x, 5, seed=3))
    assert not np.array_equal(metrics.kmeans(x, 5, seed=3), metrics.kmeans(x, 5, seed=4))


def test_kmeans_more_clusters_than_distinct_points():
    # 3 distinct points, k = 5: empties are re-seeded, no NaN, every point is a centroid.
    x = np.repeat(CENTRES, 4, axis=0)
    c = metrics.kmeans(x, 5, seed=0)
    assert np.all(np.isfinite(c))
    assert metrics.nearest_distance(CENTRES, c) == 0.0


def test_kmeans_errors():
    with pytest.raises(ValueError, match="k"):
        metrics.kmeans(np.zeros((3, 2)), 4)


def test_assign_bins():
    x = blobs(seed=1, n=5)
    bins = metrics.assign_bins(x, CENTRES[::-1])
    np.testing.assert_array_equal(bins, np.repeat([2, 1, 0], 5))
    with pytest.raises(ValueError, match="D="):
        metrics.assign_bins(x, np.zeros((3, 3)))


# --- NDB / JSD --------------------------------------------------------------------------------

def test_ndb_same_bins():
    bins = np.random.default_rng(7).integers(0, 6, size=500)
    assert metrics.ndb_jsd(bins, bins, 6) == {"ndb": 0, "ndb_k": 0.0, "jsd": 0.0}


def test_ndb_disjoint_bins():
    train = np.repeat([0, 1, 2], 50)
    gen = np.repeat([3, 4], 60)
    out = metrics.ndb_jsd(train, gen, 6)           # bin 5 is empty in both: not different
    assert out["ndb"] == 5 and abs(out["ndb_k"] - 5 / 6) < 1e-12
    assert abs(out["jsd"] - math.log(2)) < 1e-12


def test_ndb_z_test_by_hand():
    # Bin 0: 30 of 100 training vs 45 of 100 generated. Pooled p = 0.375,
    # se = sqrt(0.375 * 0.625 * 0.02) = 0.0684653, z = -0.15 / se = -2.19089,
    # two-sided p = 0.02846: different at 0.05, not at 0.01. Bin 1 mirrors it.
    train = np.repeat([0, 1], [30, 70])
    gen = np.repeat([0, 1], [45, 55])
    se = math.sqrt(0.375 * 0.625 * 0.02)
    p_value = math.erfc(0.15 / se / math.sqrt(2))
    assert abs(p_value - 0.028459) < 1e-5
    assert metrics.ndb_jsd(train, gen, 2)["ndb"] == 2
    assert metrics.ndb_jsd(train, gen, 2, alpha=0.01)["ndb"] == 0
    # JSD by hand: m = [0.375, 0.625].
    jsd = 0.5 * (0.3 * math.log(0.3 / 0.375) + 0.7 * math.log(0.7 / 0.625)
                 + 0.45 * math.log(0.45 / 0.375) + 0.55 * math.log(0.55 / 0.625))
    assert abs(metrics.ndb_jsd(train, gen, 2)["jsd"] - jsd) < 1e-12


def test_ndb_errors():
    with pytest.raises(ValueError, match="gen_bins"):
        metrics.ndb_jsd(np.array([0, 1]), np.array([0, 2]), 2)
    with pytest.raises(ValueError, match="ints"):
        metrics.ndb_jsd(np.array([0.0, 1.0]), np.array([0, 1]), 2)


# --- nearest distance ----------------------------------------------------------------------

def test_nearest_distance_small():
    a = np.array([[0.0, 0.0], [3.0, 5.0], [10.0, 0.0]])
    b = np.array([[0.0, 1.0], [6.0, 9.0], [10.0, 2.0]])
    # Nearest: 1 (to [0, 1]), 5 (to [0, 1] and to [6, 9]), 2 (to [10, 2]).
    assert abs(metrics.nearest_distance(a, b) - (1 + 5 + 2) / 3) < 1e-12


def test_nearest_distance_self_is_zero_and_chunked(monkeypatch):
    x = np.random.default_rng(8).normal(size=(97, 8)) * 100
    assert metrics.nearest_distance(x, x) == 0.0
    monkeypatch.setattr(metrics, "_CHUNK_ENTRIES", 7 * 97)     # chunks of 7 rows
    assert metrics.nearest_distance(x, x) == 0.0
    y = x + 1e-3
    direct = np.mean(np.min(np.linalg.norm(y[:, None] - x[None], axis=2), axis=1))
    assert abs(metrics.nearest_distance(y, x) - direct) < 1e-9
    with pytest.raises(ValueError, match="D="):
        metrics.nearest_distance(x, x[:, :3])

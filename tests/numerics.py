"""tests/numerics.py - what the tests of pygru.nn, pygru.optim and the dropout features
share: the error measure, the per-tensor report and central finite differences.
(Imported by name: pytest puts tests/ on sys.path.)"""
import numpy as np


def rel_err(actual, expected):
    """max |actual - expected| / max |expected| (over 1e-30 when expected is all 0);
    torch tensors are accepted on either side."""
    actual, expected = (v.detach().double().numpy() if hasattr(v, "detach") else v
                        for v in (actual, expected))
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-30)
    return float(np.max(np.abs(actual - expected), initial=0.0)) / scale


def assert_close(errors, tol):
    """errors: {tensor: relative error}; the message lists every tensor's error."""
    report = ", ".join("%s %.2e" % kv for kv in errors.items())
    bad = [k for k, e in errors.items() if not e <= tol]
    assert not bad, "over %.0e: %s | %s" % (tol, bad, report)


def numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar f() with respect to the array x (changed and
    restored in place)."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        fp = f()
        x[i] = old - eps
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g

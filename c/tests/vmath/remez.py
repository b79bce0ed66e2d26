#!/usr/bin/env python3
"""
remez.py - derives the polynomial coefficients of libgru's vector exp and tanh
(c/src/kernels/vmath_*.h) with a weighted Remez exchange in mpmath, then rounds them
to the target precision and reports the approximation error of the rounded polynomial.

Written for this project (no coefficients are taken from any library). Run with the
project's venv:
  /work/main/.venv/bin/python c/tests/vmath/remez.py [--c | --explore | --check H...]
(--c prints the coefficient blocks as C hex-float literals, as pasted in the headers;
--explore prints the minimax error for neighbouring degrees, which chose the degrees;
--check verifies that the given headers contain every coefficient).
Takes ~10 s.

The coefficients are rounded to nearest float/double one by one (no re-optimisation
after rounding); the printed "after rounding" error is measured on a 20000-point grid.
The end-to-end accuracy of the C functions (with all their roundings) is measured by
test_vmath.c, not here.

Approximations (r, u are the reduced arguments):
  exp:  exp(r) ~ 1 + r + r^2 Q(r),        |r| <= ln2/2 (+ slack),  minimising the
        relative error  max |r^2 (Q(r) - (e^r - 1 - r)/r^2)| / e^r.
  tanh: tanh(x) ~ x + x^3 T(x^2),          0 <= x < C,  with u = x^2 minimising the
        relative error  max |u x (T(u) - g(u))| / tanh(x),
        g(u) = (tanh(x) - x) / x^3.
"""
import sys
import mpmath as mp

mp.mp.dps = 60


def remez(f, w, a, b, deg, iters=40, grid=6000):
    """Weighted minimax polynomial of degree deg for f on [a, b]: minimises
    max |w(x) (P(x) - f(x))|. Returns (coefficients low->high, levelled error)."""
    n = deg + 2
    # Chebyshev-root start; nudged off any zero of the weight (e.g. r = 0 for exp).
    xs = [(a + b) / 2 - (b - a) / 2 * mp.cos(mp.pi * (i + mp.mpf(1) / 2) / n) for i in range(n)]
    xs = [x if abs(w(x)) > mp.mpf("1e-30") else x + (b - a) / (7 * n) for x in xs]
    gx = [a + (b - a) * mp.mpf(i) / (grid - 1) for i in range(grid)]
    gx = [x for x in gx if w(x) != 0]
    grid = len(gx)
    fg = [f(x) for x in gx]
    wg = [w(x) for x in gx]
    E = mp.mpf(0)
    c = None
    for _ in range(iters):
        # Solve sum_k c_k x_i^k - (-1)^i E / w(x_i) = f(x_i).
        A = mp.matrix(n, n)
        rhs = mp.matrix(n, 1)
        for i, x in enumerate(xs):
            for k in range(deg + 1):
                A[i, k] = x ** k
            A[i, deg + 1] = -((-1) ** i) / w(x)
            rhs[i] = f(x)
        sol = mp.lu_solve(A, rhs)
        c = [sol[k] for k in range(deg + 1)]
        E = sol[deg + 1]
        err = [wg[i] * (mp.polyval(c[::-1], gx[i]) - fg[i]) for i in range(grid)]
        # One extremum per run of equal sign.
        runs = []
        start = 0
        for i in range(1, grid + 1):
            if i == grid or mp.sign(err[i]) != mp.sign(err[start]):
                j = max(range(start, i), key=lambda t: abs(err[t]))
                runs.append(j)
                start = i
        # Keep n alternating extrema: drop the smaller end while too many.
        while len(runs) > n:
            if abs(err[runs[0]]) < abs(err[runs[-1]]):
                runs.pop(0)
            else:
                runs.pop()
        if len(runs) < n:
            break
        new = [gx[j] for j in runs]
        mx = max(abs(err[j]) for j in runs)
        mn = min(abs(err[j]) for j in runs)
        xs = new
        if mx - mn <= mx * mp.mpf("1e-4"):
            break
    return c, abs(E)


def max_weighted_error(c, f, w, a, b, grid=20000):
    m = mp.mpf(0)
    for i in range(grid):
        x = a + (b - a) * mp.mpf(i) / (grid - 1)
        m = max(m, abs(w(x) * (mp.polyval(c[::-1], x) - f(x))))
    return m


def round_to(v, bits):
    """Round an mpf to a binary floating-point number with `bits` significand bits."""
    if v == 0:
        return mp.mpf(0)
    m, e = mp.frexp(v)
    return mp.ldexp(mp.nint(mp.ldexp(m, bits)), e - bits)


def hexfloat(v, bits):
    fv = float(v)   # exact: v already has <= 53 bits
    mant, exp = fv.hex().split("p")
    mant = mant.rstrip("0").rstrip(".")
    return f"{mant}p{exp}" + ("f" if bits == 24 else "")


# ---- exp: Q(r) ~ (e^r - 1 - r) / r^2 -------------------------------------------------
def f_expq(r):
    if abs(r) < mp.mpf("1e-15"):
        return mp.mpf(1) / 2 + r / 6 + r * r / 24
    return (mp.exp(r) - 1 - r) / (r * r)


def w_expq(r):
    return r * r / mp.exp(r)


# ---- tanh: T(u) ~ (tanh(x) - x) / x^3, u = x^2 ----------------------------------------
def f_tanht(u):
    if u < mp.mpf("1e-20"):
        return -mp.mpf(1) / 3 + 2 * u / 15
    x = mp.sqrt(u)
    return (mp.tanh(x) - x) / (x ** 3)


def w_tanht(u):
    if u == 0:
        return mp.mpf(0)
    x = mp.sqrt(u)
    return u * x / mp.tanh(x)


def fit(name, f, w, a, b, deg, bits):
    c, E = remez(f, w, a, b, deg)
    cr = [round_to(v, bits) for v in c]
    Er = max_weighted_error(cr, f, w, a, b)
    return c, cr, E, Er


# Reduced-argument bound for exp: |r| <= ln2/2 plus slack for the rounding of x*log2(e)
# (float: |x| <= 104, log2e rounded to 24 bits).
R_EXP = mp.log(2) / 2 * (1 + mp.mpf("2e-5"))
# Switch point of the tanh small-|x| polynomial (below: polynomial; at/above:
# 1 - 2 e/(1 + e) with e = exp(-2|x|)). 0.5625 > atanh(0.5) keeps the exp-based
# branch's results in [0.5, 1).
C_TANH_F32 = mp.mpf("0.5625")
C_TANH_F64 = mp.mpf("0.5625")

CONFIG = [
    # name,       f,       w,       a,        b,              deg, bits
    ("exp_f32",  f_expq,  w_expq,  -R_EXP,   R_EXP,           4, 24),
    ("exp_f64",  f_expq,  w_expq,  -R_EXP,   R_EXP,           9, 53),
    ("tanh_f32", f_tanht, w_tanht, mp.mpf(0), C_TANH_F32 ** 2, 4, 24),
    ("tanh_f64", f_tanht, w_tanht, mp.mpf(0), C_TANH_F64 ** 2, 10, 53),
]


def check_headers(paths):
    """Exit status 1 unless every rounded coefficient appears, as the hex literal --c
    prints, in every given header (keeps the three ISA headers in step with the fit)."""
    missing = 0
    texts = {p: open(p).read() for p in paths}
    for name, f, w, a, b, deg, bits in CONFIG:
        _, cr, _, _ = fit(name, f, w, a, b, deg, bits)
        for v in cr:
            lit = hexfloat(abs(v), bits)
            for p, t in texts.items():
                if lit not in t:
                    print(f"{p}: {name} coefficient {lit} missing")
                    missing += 1
    print(f"coefficients: {'all present' if not missing else f'{missing} missing'} in "
          f"{len(paths)} header(s)")
    return 1 if missing else 0


def main():
    as_c = "--c" in sys.argv
    explore = "--explore" in sys.argv
    if "--check" in sys.argv:
        sys.exit(check_headers(sys.argv[sys.argv.index("--check") + 1:]))
    if explore:
        for name, f, w, a, b, deg, bits in CONFIG:
            for d in range(max(1, deg - 2), deg + 3):
                c, E = remez(f, w, a, b, d, grid=1500)
                print(f"{name} deg {d}: minimax rel error {mp.nstr(E, 4)} "
                      f"(2^{mp.nstr(mp.log(E, 2), 4)})")
        return
    for name, f, w, a, b, deg, bits in CONFIG:
        c, cr, E, Er = fit(name, f, w, a, b, deg, bits)
        print(f"/* {name}: degree {deg} on [{mp.nstr(a, 6)}, {mp.nstr(b, 6)}], "
              f"minimax rel error {mp.nstr(E, 3)} (2^{mp.nstr(mp.log(E, 2), 3)}), "
              f"after rounding to {bits} bits {mp.nstr(Er, 3)} */")
        var = "r" if name.startswith("exp") else "u"
        for k, v in enumerate(cr):
            if as_c:
                print(f"    {hexfloat(v, bits)}, /* {var}^{k}: {mp.nstr(c[k], 20)} */")
            else:
                print(f"  {var}^{k}: {mp.nstr(v, 25)}")


if __name__ == "__main__":
    main()

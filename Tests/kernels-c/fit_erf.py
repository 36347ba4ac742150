"""Fits the polynomial coefficients of the vectorized erf in vq_simd_template.h.

    python3 Tests/kernels-c/fit_erf.py      (numpy and mpmath)

erf(a), a = |x|, in two pieces joined at T = 0.875:
  a < T:      erf(a) = a * P(a^2), P of degree 5, minimizing the absolute error of erf;
  T <= a < 4: erf(a) = 1 - exp(-a^2) * R(u), u = (a - 2.4375) / 1.5625 in [-1, 1], R of degree 8
              fitting erfc(a) * exp(a^2) with the error weighted by exp(-a^2) (= absolute error
              of erf).
Fitting: weighted least squares on Chebyshev nodes with Lawson reweighting (near-minimax),
against mpmath at 30 digits. Coefficients are rounded to float32 one at a time, lowest order
first, refitting the remaining ones after each rounding, so that the rounding of a coefficient
is absorbed by the others. The printout includes the worst error of the float32 evaluation
(FMA Horner, as the kernels do; exp taken exact here) on a dense grid.
"""
import numpy as np
import mpmath as mp
from math import erf, exp

mp.mp.dps = 30
f32 = np.float32
T, HI, DEG1, DEG2 = 0.875, 4.0, 5, 8


def fma(a, b, c):
    return f32(np.float64(a) * np.float64(b) + np.float64(c))


def lawson(V, f, w, iters=40):
    wt = np.ones(len(f))
    for _ in range(iters):
        c, *_ = np.linalg.lstsq(V * (w * wt)[:, None], f * w * wt, rcond=None)
        e = np.abs((V @ c - f) * w)
        wt = wt * (e / e.max() + 1e-3) ** 0.5
        wt /= wt.max()
    return c


def fit_rounded(V, f, w):
    fixed = []
    for i in range(V.shape[1]):
        resid = f - (V[:, :i] @ np.array(fixed) if i else 0)
        fixed.append(float(f32(lawson(V[:, i:], resid, w)[0])))
    return fixed


def main():
    a = np.maximum(np.cos(np.linspace(0, np.pi, 3000)) * T / 2 + T / 2, 1e-4)
    c1 = fit_rounded(np.vander(a * a, DEG1 + 1, increasing=True),
                     np.array([float(mp.erf(x) / x) for x in a]), a)
    mid, half = (T + HI) / 2, (HI - T) / 2
    a = np.cos(np.linspace(0, np.pi, 3000)) * half + mid
    c2 = fit_rounded(np.vander((a - mid) / half, DEG2 + 1, increasing=True),
                     np.array([float(mp.erfc(x) * mp.exp(x * x)) for x in a]), np.exp(-a * a))

    def ev1(x):
        s = f32(x * x)
        p = f32(c1[-1])
        for c in c1[-2::-1]:
            p = fma(p, s, f32(c))
        return f32(x * p)

    def ev2(x):
        u = fma(x, f32(1 / half), f32(-mid / half))
        q = f32(c2[-1])
        for c in c2[-2::-1]:
            q = fma(q, u, f32(c))
        return fma(-f32(exp(-float(f32(x * x)))), q, f32(1.0))

    w1 = max(abs(float(ev1(x)) - erf(float(x))) for x in np.linspace(0, T, 30001).astype(f32)[1:-1])
    w2 = max(abs(float(ev2(x)) - erf(float(x))) for x in np.linspace(T, HI, 30001).astype(f32))
    print(f"small (a < {T}), P(a^2) high to low, float32 evaluation error {w1:.3g}:")
    print("   " + ", ".join(f"{v:.9e}f" for v in c1[::-1]))
    print(f"large, u = a * {f32(1 / half):.9g}f + {f32(-mid / half):.9g}f, R(u) high to low, error {w2:.3g}:")
    print("   " + ", ".join(f"{v:.9e}f" for v in c2[::-1]))


if __name__ == "__main__":
    main()

"""The truncated normal distribution: exact bounds, two samplers, and its moments.

Values of :math:`\\mathcal{N}(\\mu, \\sigma^2)` conditioned on :math:`[a, b]`, written so that
every value stored lies inside ``[a, b]`` in the *output* dtype (float16, bfloat16 and float8
included) and for any ``std``, however small:

* the bounds are first rounded inwards to values the output dtype holds;
* when much of the normal's mass lies in ``[a, b]`` (acceptance >= ``FAST_ACCEPTANCE``), values
  are drawn from the normal and the few outside are redrawn from the same chunk generator
  (deterministic, and no pass over the whole tensor after the first);
* otherwise (narrow or far-tail intervals) values come from the inverse CDF, computed from
  :math:`\\log p` so that tails far beyond float32's range of probabilities stay exact, with
  Acklam's rational approximation of the normal quantile (relative error below 1.2e-9).
"""

from __future__ import annotations

import math
from typing import Any

import ml_dtypes
import numpy as np

from paramtool.random import ChunkSource, Draw

#: Acceptance above which normal-and-redraw is faster than the inverse CDF.
FAST_ACCEPTANCE = 0.3

# Acklam's rational approximation of the standard normal quantile.
_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
      1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)  # fmt: skip
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
      6.680131188771972e01, -1.328068155288572e01, 1.0)  # fmt: skip
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
      -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)  # fmt: skip
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
      3.754408661907416e00, 1.0)  # fmt: skip
_P_LOW = 0.02425


def norm_cdf(x: float) -> float:
    """The standard normal CDF :math:`\\Phi(x)`."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def log_norm_cdf(x: float) -> float:
    """:math:`\\log\\Phi(x)`, finite even where :math:`\\Phi(x)` underflows (x < -37)."""
    if x > -30.0:
        p = norm_cdf(x)
        return math.log(p) if p > 0 else -math.inf
    if x < -1e150:  # x**2 would overflow; the probability is 0 to any precision
        return -math.inf
    # Asymptotic series of Mills' ratio: Phi(x) ~ phi(x)/|x| (1 - 1/x^2 + 3/x^4).
    return (
        -0.5 * x * x - math.log(-x) - 0.5 * math.log(2 * math.pi) + math.log1p(-1 / x**2 + 3 / x**4)
    )


def _pdf(x: float) -> float:
    return 0.0 if math.isinf(x) else math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def acceptance(mean: float, std: float, a: float, b: float) -> float:
    """The probability that :math:`\\mathcal{N}(\\mu, \\sigma^2)` falls in ``[a, b]``.

    Computed from the nearer tail, so that an interval far out keeps its (tiny) probability.
    """
    alpha, beta = (a - mean) / std, (b - mean) / std
    if alpha > 0:
        alpha, beta = -beta, -alpha
    return norm_cdf(beta) - norm_cdf(alpha)


def truncated_std(mean: float, std: float, a: float, b: float) -> float:
    """The standard deviation of the truncated distribution (closed form)."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    z = acceptance(mean, std, a, b)
    if z <= 0:
        return 0.0
    fa, fb = _pdf(alpha), _pdf(beta)
    ta = alpha * fa if math.isfinite(alpha) else 0.0
    tb = beta * fb if math.isfinite(beta) else 0.0
    var = 1 + (ta - tb) / z - ((fa - fb) / z) ** 2
    return std * math.sqrt(max(var, 0.0))


def _step(value: np.ndarray, up: bool) -> np.ndarray:
    """The next value of ``value``'s dtype towards +inf (``up``) or -inf, by its bit pattern."""
    uint = np.dtype(f"u{value.dtype.itemsize}")
    bits = int(value.view(uint)[()])
    sign = 1 << (8 * value.dtype.itemsize - 1)
    if float(value) == 0:
        bits = 1 if up else sign | 1
    elif (bits & sign == 0) == up:
        bits += 1
    else:
        bits -= 1
    return np.array(bits, uint).view(value.dtype)


def inner_bounds(a: float, b: float, dtype: Any) -> tuple[float, float]:
    """``[a, b]`` shrunk to the nearest values that ``dtype`` holds exactly (inwards)."""
    info = ml_dtypes.finfo(dtype)
    lo_v, hi_v = max(a, float(info.min)), min(b, float(info.max))
    lo, hi = np.array(lo_v).astype(dtype), np.array(hi_v).astype(dtype)
    if float(lo) < lo_v:
        lo = _step(lo, up=True)
    if float(hi) > hi_v:
        hi = _step(hi, up=False)
    return float(lo), float(hi)


def _poly(coefs: tuple[float, ...], x: Any) -> Any:
    result = coefs[0]
    for c in coefs[1:]:
        result = result * x + c
    return result


def ndtri_from_log(logp: Any, xp: Any) -> Any:
    """The standard normal quantile of :math:`p = e^{\\text{logp}}`, for ``p <= 0.975``."""
    q = xp.sqrt(-2.0 * logp)
    tail = _poly(_C, q) / _poly(_D, q)
    r = xp.exp(logp) - 0.5
    s = r * r
    central = _poly(_A, s) * r / _poly(_B, s)
    return xp.where(logp < math.log(_P_LOW), tail, central)


def make_draw(mean: float, std: float, lo: float, hi: float) -> Draw:
    """The per-chunk draw of :math:`\\mathcal{N}(\\mu, \\sigma^2)` truncated to ``[lo, hi]``.

    ``lo``/``hi`` must already be held exactly by the output dtype (see ``inner_bounds``).
    """
    if acceptance(mean, std, lo, hi) >= FAST_ACCEPTANCE:
        return _redraw_sampler(mean, std, lo, hi)
    return _inverse_cdf_sampler(mean, std, lo, hi)


def _redraw_sampler(mean: float, std: float, lo: float, hi: float) -> Draw:
    def draw(source: ChunkSource, chunk: Any) -> None:
        xp = source.xp
        source.normal(chunk)
        _scale(chunk, mean, std)
        idx = xp.flatnonzero((chunk < lo) | (chunk > hi))
        while idx.size:
            fresh = _scale(source.normal_values(int(idx.size), chunk.dtype), mean, std)
            ok = (fresh >= lo) & (fresh <= hi)
            chunk[idx[ok]] = fresh[ok]
            idx = idx[~ok]

    return draw


def _inverse_cdf_sampler(mean: float, std: float, lo: float, hi: float) -> Draw:
    alpha, beta = (lo - mean) / std, (hi - mean) / std
    flip = alpha >= 0  # sample the mirror image in the lower tail, where p keeps its precision
    if flip:
        alpha, beta = -beta, -alpha
    log_hi = log_norm_cdf(beta)
    rho = math.exp(log_norm_cdf(alpha) - log_hi)  # p_lo / p_hi, in [0, 1)

    def draw(source: ChunkSource, chunk: Any) -> None:
        xp = source.xp
        source.uniform(chunk)  # r; then p = p_hi * (rho + (1 - rho) r)
        chunk *= 1.0 - rho
        chunk += rho
        xp.maximum(chunk, np.finfo(chunk.dtype).tiny, out=chunk)
        xp.log(chunk, out=chunk)
        chunk += log_hi
        chunk[...] = ndtri_from_log(chunk, xp)
        _scale(chunk, mean, -std if flip else std)
        xp.clip(chunk, lo, hi, out=chunk)

    return draw


def _scale(values: Any, mean: float, std: float) -> Any:
    values *= std
    if mean:
        values += mean
    return values

"""The truncated normal distribution: exact bounds, three samplers, and its moments.

Values of :math:`\\mathcal{N}(\\mu, \\sigma^2)` conditioned on :math:`[a, b]`, written so that
every value stored lies inside ``[a, b]`` in the *output* dtype (float16, bfloat16 and float8
included) and for any ``std``, however small or large:

* the bounds are first rounded inwards to values the output dtype holds;
* when much of the normal's mass lies in ``[a, b]`` (acceptance >= ``FAST_ACCEPTANCE``), values
  are drawn from the normal and the few outside are redrawn from the same chunk generator
  (deterministic, and no pass over the whole tensor after the first);
* otherwise the interval is narrow or lies in a tail, and values are drawn as offsets from the
  bound nearest the mean, so that their resolution is that of the output dtype whatever the
  scale: uniform proposals where the density is nearly flat over the interval, exponential
  ones in a tail (Robert 1995, "Simulation of truncated normal variables"), each accepted with
  the ratio of target to proposal density.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from paramtool.core.dtypes import finfo
from paramtool.core.random import ChunkSource, Draw

#: Acceptance above which normal-and-redraw is the fastest sampler.
FAST_ACCEPTANCE = 0.3
#: Largest drop of the log-density over the interval for which uniform proposals are used.
FLAT_LOG_DROP = 1.0
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def norm_cdf(x: float) -> float:
    """The standard normal CDF :math:`\\Phi(x)`."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _log_pdf(x: float) -> float:
    return -0.5 * x * x - _LOG_SQRT_2PI


def _log_mills(t: float) -> float:
    """:math:`\\log(\\Phi(-t) / \\varphi(t))` for ``t >= 5``, by its continued fraction."""
    tail = t
    for k in range(200, 0, -1):
        tail = t + k / tail
    return -math.log(tail)


def _log_cdf_over_pdf(x: float) -> float:
    """:math:`\\log(\\Phi(x) / \\varphi(x))`, without forming either where they underflow."""
    if x <= -5.0:
        return _log_mills(-x)
    return math.log(norm_cdf(x)) - _log_pdf(x)


def _lower_tail(mean: float, std: float, a: float, b: float) -> tuple[float, float]:
    """Standardised bounds, mirrored when the interval lies above the mean (same shape)."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    if alpha > 0:
        alpha, beta = -beta, -alpha
    return alpha, beta


def _tail_terms(alpha: float, beta: float) -> tuple[float, float, float]:
    """``(log Z, phi(alpha) / Z, phi(beta) / Z)`` with ``Z = Phi(beta) - Phi(alpha)``.

    For ``beta <= 0``, every term is taken relative to :math:`\\varphi(\\beta)`, so that
    intervals thousands of standard deviations out keep full precision.
    """
    if beta > 0:  # the interval holds the mean: Z is at least 1/2 of Phi(beta) - Phi(0)
        z = norm_cdf(beta) - norm_cdf(alpha)
        fa = 0.0 if math.isinf(alpha) else math.exp(_log_pdf(alpha)) / z
        fb = 0.0 if math.isinf(beta) else math.exp(_log_pdf(beta)) / z
        return math.log(z), fa, fb
    h_beta = _log_cdf_over_pdf(beta)
    if math.isinf(alpha):
        drop, ratio = -math.inf, 0.0
    else:
        drop = -0.5 * (alpha - beta) * (alpha + beta)  # log phi(alpha) - log phi(beta)
        ratio = math.exp(drop + _log_cdf_over_pdf(alpha) - h_beta)  # Phi(alpha) / Phi(beta)
    rest = -math.log1p(-ratio)  # log(Phi(beta) / Z)
    log_z = _log_pdf(beta) + h_beta - rest
    return log_z, math.exp(drop - h_beta + rest), math.exp(-h_beta + rest)


def acceptance(mean: float, std: float, a: float, b: float) -> float:
    """The probability that :math:`\\mathcal{N}(\\mu, \\sigma^2)` falls in ``[a, b]``.

    Computed from the nearer tail, so that an interval far out keeps its (tiny) probability.
    """
    alpha, beta = _lower_tail(mean, std, a, b)
    return 0.0 if alpha >= beta else math.exp(_tail_terms(alpha, beta)[0])


def truncated_std(mean: float, std: float, a: float, b: float) -> float:
    """The standard deviation of the truncated distribution (closed form, stable in the tails).

    An interval over which the log-density changes by less than 1e-2 is treated as uniform
    (relative error below 1e-5), where the closed form would cancel catastrophically.
    """
    alpha, beta = _lower_tail(mean, std, a, b)
    if not alpha < beta:
        return 0.0
    width = beta - alpha
    if width * max(abs(alpha), abs(beta), 1.0) < 1e-2:
        return std * width / math.sqrt(12.0)
    _, fa, fb = _tail_terms(alpha, beta)
    ta = alpha * fa if math.isfinite(alpha) else 0.0
    tb = beta * fb if math.isfinite(beta) else 0.0
    var = 1 + (ta - tb) - (fa - fb) ** 2
    return std * math.sqrt(max(var, 0.0))


def _step(value: np.ndarray, up: bool) -> np.ndarray:
    """The next value of ``value``'s dtype towards +inf (``up``) or -inf, by its bit pattern.

    Formats without a sign bit (float8_e8m0fnu) order their bit patterns like their values.
    """
    uint = np.dtype(f"u{value.dtype.itemsize}")
    bits = int(value.view(uint)[()])
    signed = float(finfo(value.dtype).min) < 0
    sign = 1 << (8 * value.dtype.itemsize - 1) if signed else 0
    if float(value) == 0:
        bits = 1 if up else sign | 1
    elif (bits & sign == 0) == up:
        bits += 1
    else:
        bits -= 1
    return np.array(bits, uint).view(value.dtype)


def inner_bounds(a: float, b: float, dtype: Any) -> tuple[float, float]:
    """``[a, b]`` shrunk to the nearest values that ``dtype`` holds exactly (inwards)."""
    info = finfo(dtype)
    lo_v, hi_v = max(a, float(info.min)), min(b, float(info.max))
    lo, hi = np.array(lo_v).astype(dtype), np.array(hi_v).astype(dtype)
    if float(lo) < lo_v:
        lo = _step(lo, up=True)
    if float(hi) > hi_v:
        hi = _step(hi, up=False)
    return float(lo), float(hi)


def make_draw(mean: float, std: float, lo: float, hi: float) -> Draw:
    """The per-chunk draw of :math:`\\mathcal{N}(\\mu, \\sigma^2)` truncated to ``[lo, hi]``.

    ``lo``/``hi`` must already be held exactly by the output dtype (see ``inner_bounds``).
    """
    if acceptance(mean, std, lo, hi) >= FAST_ACCEPTANCE:
        return _redraw_sampler(mean, std, lo, hi)
    return _offset_sampler(mean, std, lo, hi)


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


def _offset_sampler(mean: float, std: float, lo: float, hi: float) -> Draw:
    """Values ``near + direction * std * t``, with ``t >= 0`` drawn by rejection.

    ``near`` is the bound nearer the mean (``lo`` when the interval holds the mean), so that,
    in units of ``std`` from the mean, the interval is ``[start, start + width]`` on the upper
    side after mirroring. The target density of ``t`` is proportional to
    ``exp(-(start + t)^2 / 2)``.
    """
    alpha, beta = (lo - mean) / std, (hi - mean) / std
    if beta < 0:  # below the mean: measure downwards from hi
        near, direction, start = hi, -1.0, -beta
    else:
        near, direction, start = lo, 1.0, alpha
    width = beta - alpha
    peak = max(start, 0.0)  # where the density is highest (start < 0: the mean is inside)
    far = start + width
    if 0.5 * (max(far, -start) - peak) * (max(far, -start) + peak) <= FLAT_LOG_DROP:
        propose, log_ratio = _uniform_offsets(width), _flat_log_ratio(start, peak)
    else:
        root = math.sqrt(start * start + 4.0)
        rate = 0.5 * (start + root)
        propose, log_ratio = (
            _exponential_offsets(rate, width),
            _tail_log_ratio(-2.0 / (start + root)),
        )

    def draw(source: ChunkSource, chunk: Any) -> None:
        _accepted(source, chunk, propose, log_ratio)
        chunk *= direction * std
        chunk += near
        source.xp.clip(chunk, lo, hi, out=chunk)

    return draw


def _flat_log_ratio(start: float, peak: float) -> Any:
    """Uniform proposals: ``log`` of ``exp(-((start + t)^2 - peak^2) / 2)``, cancellation-free."""

    def log_ratio(t: Any) -> Any:
        r = t + (start - peak)
        r *= t + (start + peak)
        r *= -0.5
        return r

    return log_ratio


def _tail_log_ratio(shift: float) -> Any:
    """Exponential(rate) proposals: ``log`` of ``exp(-(t + start - rate)^2 / 2)``;
    ``shift = start - rate``."""

    def log_ratio(t: Any) -> Any:
        r = t + shift
        r *= r
        r *= -0.5
        return r

    return log_ratio


Propose = Any


def _uniform_offsets(width: float) -> Propose:
    def propose(source: ChunkSource, out: Any) -> Any:
        source.uniform(out)
        out *= width
        return out

    return propose


def _exponential_offsets(rate: float, width: float) -> Propose:
    """Exponential(rate) offsets truncated to ``[0, width]``, by inversion."""
    cap = -math.expm1(-rate * width) if math.isfinite(width) else 1.0

    def propose(source: ChunkSource, out: Any) -> Any:
        source.uniform(out)
        out *= -cap
        source.xp.log1p(out, out=out)
        out *= -1.0 / rate
        return out

    return propose


def _accepted(source: ChunkSource, out: Any, propose: Propose, log_ratio: Any) -> None:
    """Fill ``out`` with proposals, each kept with probability ``exp(log_ratio)``; redraw the
    rejected ones from the same source until none is left."""
    xp = source.xp
    pending = None
    while True:
        target = out if pending is None else xp.empty(pending.size, out.dtype)
        propose(source, target)
        v = source.uniform(xp.empty(target.size, out.dtype))
        xp.subtract(1.0, v, out=v)  # in (0, 1]: log is finite
        xp.log(v, out=v)
        rejected = v > log_ratio(target)
        if pending is None:
            pending = xp.flatnonzero(rejected)
        else:
            out[pending[~rejected]] = target[~rejected]
            pending = pending[rejected]
        if not pending.size:
            return


def _scale(values: Any, mean: float, std: float) -> Any:
    values *= std
    if mean:
        values += mean
    return values

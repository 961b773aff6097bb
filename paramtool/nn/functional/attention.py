"""Attention (``torch.nn.functional``): ``scaled_dot_product_attention`` as one graph node with
its closed-form gradient, and ``multi_head_attention_forward`` (``nn.MultiheadAttention``'s
computation) built from it.

Grouped-query attention (``enable_gqa``) broadcasts the key/value heads over their groups
instead of copying them; a row whose every position is masked gives zeros, as PyTorch's
math path does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from paramtool.core import factories, ops
from paramtool.core.autograd import record, unbroadcast
from paramtool.core.ops_common import arr, constant, matmul_array, needs, xp_of

__all__ = ["multi_head_attention_forward", "scaled_dot_product_attention"]


def _mask_bias(attn_mask: Any, is_causal: bool, shape: tuple[int, int], dtype: Any, xp: Any) -> Any:
    """The additive mask (an array, or None): -inf where a bool mask is False or above the
    diagonal when causal, the values of a float mask as given."""
    bias = None
    if is_causal:
        rows, cols = shape
        bias = xp.where(xp.tri(rows, cols, dtype=bool), 0, -np.inf).astype(dtype)
    if attn_mask is not None:
        m = arr(attn_mask)
        extra = xp.where(m, 0, -np.inf).astype(dtype) if m.dtype == np.bool_ else None
        if extra is not None:
            bias = extra if bias is None else bias + extra
    return bias


def scaled_dot_product_attention(query: Any, key: Any, value: Any, attn_mask: Any = None,
                                 dropout_p: float = 0.0, is_causal: bool = False,
                                 scale: float | None = None, enable_gqa: bool = False) -> Any:  # fmt: skip
    """``softmax(q k^T * scale + mask) v`` over the last two dimensions.

    Args:
        query: ``(..., L, E)``.
        key: ``(..., S, E)``; with ``enable_gqa`` its head dimension (-3) may divide the query's.
        value: ``(..., S, Ev)``.
        attn_mask: Bool (True = attend) or float (added) mask broadcastable to ``(..., L, S)``.
        dropout_p: Dropout probability on the attention weights (paramtool's random stream).
        is_causal: Mask out positions above the diagonal (cannot be combined with a mask).
        scale: Default ``1 / sqrt(E)``.
        enable_gqa: Allow fewer key/value heads than query heads.
    """
    if is_causal and attn_mask is not None:
        raise RuntimeError(
            "_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True"
        )
    q, k, v = arr(query), arr(key), arr(value)
    xp = xp_of(query)
    groups = _groups(q, k, enable_gqa)
    if groups > 1:  # (..., Hk, G, L, E) against (..., Hk, 1, S, E)
        q = q.reshape(*q.shape[:-3], k.shape[-3], groups, *q.shape[-2:])
        k, v = k[..., None, :, :], v[..., None, :, :]
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = matmul_array(q, k.swapaxes(-1, -2))
    scores *= scale  # a Python float: the scores keep their dtype
    bias = _mask_bias(attn_mask, is_causal, (q.shape[-2], k.shape[-2]), q.dtype, xp)
    float_mask = attn_mask is not None and arr(attn_mask).dtype != np.bool_
    if float_mask:
        scores = scores + _grouped(arr(attn_mask), groups)
    if bias is not None:
        scores = scores + _grouped(bias, groups) if bias.ndim > 2 else scores + bias
    probs = _safe_softmax(scores, xp)
    keep = None
    if dropout_p > 0:
        uniform = factories.rand(*probs.shape, dtype=probs.dtype, device=query.device)._array()
        keep = (uniform >= dropout_p).astype(probs.dtype) / (1 - dropout_p)
    weights = probs if keep is None else probs * keep
    out = matmul_array(weights, v).astype(q.dtype, copy=False)  # numpy widens bfloat16
    out_shape = (*arr(query).shape[:-1], v.shape[-1])
    need = (needs(query), needs(key), needs(value), float_mask and needs(attn_mask))
    shapes = (arr(query).shape, arr(key).shape, arr(value).shape)

    def backward(g: Any) -> tuple[Any, ...]:
        g = g.reshape(out.shape)
        gv = matmul_array(weights.swapaxes(-1, -2), g) if need[2] else None
        gw = matmul_array(g, v.swapaxes(-1, -2))
        gp = gw if keep is None else gw * keep
        gs = probs * (gp - (gp * probs).sum(axis=-1, keepdims=True))
        gq = (matmul_array(gs, k) * scale).reshape(shapes[0]) if need[0] else None
        gk = matmul_array(gs.swapaxes(-1, -2), q) * scale if need[1] else None
        gk = None if gk is None else unbroadcast(gk, k.shape).reshape(shapes[1])
        gv = None if gv is None else unbroadcast(gv, v.shape).reshape(shapes[2])
        gm = unbroadcast(_ungrouped(gs, groups), arr(attn_mask).shape) if need[3] else None
        return gq, gk, gv, gm

    return record(out.reshape(out_shape), (query, key, value, attn_mask), backward,
                  name="ScaledDotProductAttentionBackward0")  # fmt: skip


def _groups(q: Any, k: Any, enable_gqa: bool) -> int:
    if not enable_gqa or q.ndim < 3 or q.shape[-3] == k.shape[-3]:
        return 1
    if q.shape[-3] % k.shape[-3]:
        raise RuntimeError(
            "Number of heads in key and value must divide the number of heads in query"
        )
    return q.shape[-3] // k.shape[-3]


def _grouped(mask: Any, groups: int) -> Any:
    """A ``(..., H, L, S)`` mask laid out as ``(..., Hk, G, L, S)`` when heads are grouped."""
    if groups == 1 or mask.ndim < 3 or mask.shape[-3] == 1:
        return mask if groups == 1 or mask.ndim < 3 else mask[..., None, :, :]
    return mask.reshape(*mask.shape[:-3], mask.shape[-3] // groups, groups, *mask.shape[-2:])


def _ungrouped(grad: Any, groups: int) -> Any:
    if groups == 1:
        return grad
    return grad.reshape(*grad.shape[:-4], grad.shape[-4] * grad.shape[-3], *grad.shape[-2:])


def _safe_softmax(scores: Any, xp: Any) -> Any:
    top = scores.max(axis=-1, keepdims=True)
    finite = xp.isfinite(top)
    e = xp.exp(scores - xp.where(finite, top, 0))
    total = e.sum(axis=-1, keepdims=True)
    return xp.where(finite, e / xp.where(total == 0, 1, total), 0).astype(scores.dtype)


# -- multi-head attention ---------------------------------------------------------------------


def _float_mask(mask: Any, dtype: Any) -> Any:
    """A bool mask (True = blocked, nn.MultiheadAttention's convention) as -inf/0 floats."""
    m = arr(mask)
    if m.dtype == np.bool_:
        xp = xp_of(mask)
        return constant(xp.where(m, -np.inf, 0).astype(dtype))
    return mask


def _project(
    query: Any, key: Any, value: Any, weights: tuple[Any, Any, Any], bias: Any
) -> tuple[Any, Any, Any]:
    b = (None, None, None) if bias is None else ops.chunk(bias, 3)
    return tuple(
        ops.linear(x, w, bb) for x, w, bb in zip((query, key, value), weights, b, strict=True)
    )  # type: ignore[return-value]


def multi_head_attention_forward(
    query: Any, key: Any, value: Any, embed_dim_to_check: int, num_heads: int,
    in_proj_weight: Any, in_proj_bias: Any, bias_k: Any, bias_v: Any, add_zero_attn: bool,
    dropout_p: float, out_proj_weight: Any, out_proj_bias: Any, training: bool = True,
    key_padding_mask: Any = None, need_weights: bool = True, attn_mask: Any = None,
    use_separate_proj_weight: bool = False, q_proj_weight: Any = None, k_proj_weight: Any = None,
    v_proj_weight: Any = None, static_k: Any = None, static_v: Any = None,
    average_attn_weights: bool = True, is_causal: bool = False,
) -> tuple[Any, Any]:  # fmt: skip
    """``nn.MultiheadAttention``'s computation on ``(L, N, E)`` (or unbatched ``(L, E)``)
    inputs; returns the output and, with ``need_weights``, the attention weights."""
    batched = arr(query).ndim == 3
    if not batched:
        query, key, value = (ops.unsqueeze(x, 1) for x in (query, key, value))
        if key_padding_mask is not None:
            key_padding_mask = ops.unsqueeze(key_padding_mask, 0)
    tgt_len, bsz, embed_dim = arr(query).shape
    if embed_dim != embed_dim_to_check:
        raise AssertionError(
            f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}"
        )
    head_dim = embed_dim // num_heads
    if is_causal and attn_mask is None:
        raise RuntimeError(
            "Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
            "method `generate_square_subsequent_mask` to create this mask."
        )
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None
    else:
        is_causal = False
    weights = (
        (q_proj_weight, k_proj_weight, v_proj_weight)
        if use_separate_proj_weight
        else ops.chunk(in_proj_weight, 3)
    )
    q, k, v = _project(query, key, value, weights, in_proj_bias)
    dtype = arr(q).dtype
    if attn_mask is not None:
        attn_mask = _float_mask(attn_mask, dtype)
        if arr(attn_mask).ndim == 2:
            attn_mask = ops.unsqueeze(attn_mask, 0)
    if bias_k is not None and bias_v is not None:
        k = ops.cat([k, ops.repeat(bias_k, 1, bsz, 1)])
        v = ops.cat([v, ops.repeat(bias_v, 1, bsz, 1)])
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)
    q = ops.transpose(ops.reshape(q, tgt_len, bsz * num_heads, head_dim), 0, 1)
    k = (
        static_k
        if static_k is not None
        else ops.transpose(ops.reshape(k, arr(k).shape[0], bsz * num_heads, head_dim), 0, 1)
    )
    v = (
        static_v
        if static_v is not None
        else ops.transpose(ops.reshape(v, arr(v).shape[0], bsz * num_heads, head_dim), 0, 1)
    )
    if add_zero_attn:
        zeros = constant(xp_of(query).zeros((bsz * num_heads, 1, head_dim), dtype=dtype))
        k, v = ops.cat([k, zeros], 1), ops.cat([v, zeros], 1)
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)
    src_len = arr(k).shape[1]
    if key_padding_mask is not None:
        padding = ops.reshape(
            ops.expand(
                ops.reshape(_float_mask(key_padding_mask, dtype), bsz, 1, 1, src_len),
                -1,
                num_heads,
                -1,
                -1,
            ),
            bsz * num_heads,
            1,
            src_len,
        )
        attn_mask = padding if attn_mask is None else ops.add(attn_mask, padding)
    if not training:
        dropout_p = 0.0
    if need_weights:
        out, weights_out = _attention_with_weights(
            q, k, v, attn_mask, dropout_p, head_dim, embed_dim
        )
        weights_out = ops.reshape(weights_out, bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            weights_out = ops.mean(weights_out, 1)
    else:
        if attn_mask is not None:
            attn_mask = (
                ops.reshape(attn_mask, bsz, num_heads, -1, src_len)
                if arr(attn_mask).shape[0] != 1
                else ops.unsqueeze(attn_mask, 0)
            )
        qh, kh, vh = (ops.reshape(x, bsz, num_heads, -1, head_dim) for x in (q, k, v))
        attended = scaled_dot_product_attention(qh, kh, vh, attn_mask, dropout_p, is_causal)
        out = ops.reshape(ops.permute(attended, 2, 0, 1, 3), bsz * tgt_len, embed_dim)
        weights_out = None
    out = ops.reshape(ops.linear(out, out_proj_weight, out_proj_bias), tgt_len, bsz, embed_dim)
    if not batched:
        out = ops.squeeze(out, 1)
        if weights_out is not None:
            weights_out = ops.squeeze(weights_out, 0)
    return out, weights_out


def _attention_with_weights(q: Any, k: Any, v: Any, attn_mask: Any, dropout_p: float,
                            head_dim: int, embed_dim: int) -> tuple[Any, Any]:  # fmt: skip
    """The explicit path (weights returned): ``softmax(q k^T / sqrt(d) + mask)``, then v."""
    scores = ops.bmm(ops.mul(q, math.sqrt(1.0 / head_dim)), ops.transpose(k, -2, -1))
    if attn_mask is not None:
        scores = ops.add(scores, attn_mask)
    weights = ops.softmax(scores, -1)
    if dropout_p > 0:
        from paramtool.nn.functional.dropout import dropout  # noqa: PLC0415

        weights = dropout(weights, dropout_p)
    out = ops.bmm(weights, v)  # (N * H, L, head_dim) -> (L * N, E), heads side by side
    return ops.reshape(ops.transpose(out, 0, 1), -1, embed_dim), weights


def _pad_last(mask: Any) -> Any:
    if mask is None:
        return None
    m = arr(mask)
    xp = xp_of(mask)
    pad = [(0, 0)] * (m.ndim - 1) + [(0, 1)]
    return (
        constant(xp.pad(m, pad))
        if not getattr(mask, "requires_grad", False)
        else ops.cat([mask, constant(xp.zeros((*m.shape[:-1], 1), dtype=m.dtype))], -1)
    )

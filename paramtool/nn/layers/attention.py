"""MultiheadAttention (``torch.nn.MultiheadAttention``): its parameters and default init.

With ``kdim == vdim == embed_dim`` the query, key and value projections are packed in one
``in_proj_weight (3 * embed_dim, embed_dim)``; otherwise they are separate ``q_proj_weight``,
``k_proj_weight`` and ``v_proj_weight``. Projections start Xavier-uniform, biases at zero,
``bias_k``/``bias_v`` Xavier-normal; ``out_proj`` is a Linear (repr name
``NonDynamicallyQuantizableLinear``) whose bias is then zeroed.
"""

from __future__ import annotations

from typing import Any

from paramtool.nn import functional as F  # noqa: N812 - PyTorch's name
from paramtool.nn import init
from paramtool.nn.layers._utils import Layer, empty_parameter
from paramtool.nn.layers.linear import NonDynamicallyQuantizableLinear


class MultiheadAttention(Layer):
    """Attention over ``num_heads`` heads (Vaswani et al., 2017); PyTorch's names and init.

    Args:
        embed_dim: Model dimension; split evenly across heads.
        num_heads: Number of heads.
        dropout: Dropout probability on attention weights.
        bias: Whether the input and output projections have biases.
        add_bias_kv: Whether to learn ``bias_k`` and ``bias_v`` of shape (1, 1, embed_dim).
        add_zero_attn: Whether to append a batch of zeros to key and value.
        kdim: Key features (default embed_dim).
        vdim: Value features (default embed_dim).
        batch_first: Whether inputs are (batch, seq, feature).
        device: Device of the parameters.
        dtype: dtype of the parameters (default float32).

    Raises:
        ValueError: ``embed_dim`` or ``num_heads`` not positive.
        AssertionError: ``embed_dim`` not divisible by ``num_heads`` (PyTorch's behaviour).
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(
                f"embed_dim and num_heads must be greater than 0,"
                f" got embed_dim={embed_dim} and num_heads={num_heads} instead"
            )
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError("embed_dim must be divisible by num_heads")
        if self._qkv_same_embed_dim:
            self.in_proj_weight = empty_parameter(3 * embed_dim, embed_dim, **factory)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = empty_parameter(embed_dim, embed_dim, **factory)
            self.k_proj_weight = empty_parameter(embed_dim, self.kdim, **factory)
            self.v_proj_weight = empty_parameter(embed_dim, self.vdim, **factory)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = empty_parameter(3 * embed_dim, **factory)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, **factory)
        if add_bias_kv:
            self.bias_k = empty_parameter(1, 1, embed_dim, **factory)
            self.bias_v = empty_parameter(1, 1, embed_dim, **factory)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """Xavier-uniform projections, zero biases, Xavier-normal bias_k/bias_v."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def forward(
        self, query: Any, key: Any, value: Any, key_padding_mask: Any = None,
        need_weights: bool = True, attn_mask: Any = None, average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Any, Any]:  # fmt: skip
        """Attend from ``query`` to ``key``/``value``; returns ``(output, weights or None)``.

        Inputs are ``(L, N, E)`` (``(N, L, E)`` with ``batch_first``) or unbatched ``(L, E)``.
        Bool masks block where True; float masks are added to the scores.
        """
        batched = query.dim() == 3
        if self.batch_first and batched:
            query, key, value = (x.transpose(1, 0) for x in (query, key, value))
        separate = not self._qkv_same_embed_dim
        output, weights = F.multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight,
            self.in_proj_bias, self.bias_k, self.bias_v, self.add_zero_attn, self.dropout,
            self.out_proj.weight, self.out_proj.bias, training=self.training,
            key_padding_mask=key_padding_mask, need_weights=need_weights, attn_mask=attn_mask,
            use_separate_proj_weight=separate, q_proj_weight=getattr(self, "q_proj_weight", None),
            k_proj_weight=getattr(self, "k_proj_weight", None),
            v_proj_weight=getattr(self, "v_proj_weight", None),
            average_attn_weights=average_attn_weights, is_causal=is_causal,
        )  # fmt: skip
        if self.batch_first and batched:
            output = output.transpose(1, 0)
        return output, weights

"""Transformer layers and stacks (``torch.nn.modules.transformer``).

The layers are built from MultiheadAttention, Linear, LayerNorm and Dropout, registered in
PyTorch's order. The stacks deep-copy one layer ``num_layers`` times into a ModuleList.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from paramtool.core import factories, ops
from paramtool.nn import functional as F  # noqa: N812 - PyTorch's name
from paramtool.nn import init
from paramtool.nn.containers import ModuleList
from paramtool.nn.layers._utils import Layer
from paramtool.nn.layers.attention import MultiheadAttention
from paramtool.nn.layers.dropout import Dropout
from paramtool.nn.layers.linear import Linear
from paramtool.nn.layers.normalization import LayerNorm
from paramtool.nn.module import Module

_ACTIVATIONS = ("relu", "gelu")


def _activation(activation: str | Callable[..., Any]) -> str | Callable[..., Any]:
    """A string activation checked as PyTorch does; a callable (or Module) kept as given.

    Raises:
        RuntimeError: a string other than ``"relu"`` or ``"gelu"`` (PyTorch's message).
    """
    if isinstance(activation, str) and activation not in _ACTIVATIONS:
        raise RuntimeError(f"activation should be relu/gelu, not {activation}")
    return activation


def _get_clones(module: Module, n: int) -> ModuleList:
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


class _TransformerLayer(Layer):
    """What both layers share: one attention block per name in ``_attentions``, then the MLP.

    Each sublayer (every attention block and the MLP) has its own ``norm{i}`` and
    ``dropout{i}``, registered after the MLP as PyTorch does.
    """

    _attentions: tuple[str, ...] = ()

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[..., Any] = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        for name in self._attentions:
            attn = MultiheadAttention(
                d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **factory
            )
            setattr(self, name, attn)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **factory)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **factory)
        self.norm_first = norm_first
        num_sublayers = len(self._attentions) + 1
        for i in range(1, num_sublayers + 1):
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory))
        for i in range(1, num_sublayers + 1):
            setattr(self, f"dropout{i}", Dropout(dropout))
        self.activation = _activation(activation)

    def _act(self, x: Any) -> Any:
        if self.activation == "relu":
            return F.relu(x)
        if self.activation == "gelu":
            return F.gelu(x)
        return self.activation(x)

    def _attend(self, attn: Module, x: Any, memory: Any, mask: Any, padding: Any,
                is_causal: bool, dropout: Module) -> Any:  # fmt: skip
        out = attn(x, memory, memory, attn_mask=mask, key_padding_mask=padding,
                   need_weights=False, is_causal=is_causal)[0]  # fmt: skip
        return dropout(out)

    def _ff_block(self, x: Any) -> Any:
        out = self.linear2(self.dropout(self._act(self.linear1(x))))
        return getattr(self, f"dropout{len(self._attentions) + 1}")(out)

    def _residual(self, x: Any, index: int, block: Callable[[Any], Any]) -> Any:
        """``x + block(norm(x))`` (norm_first) or ``norm(x + block(x))``."""
        norm = getattr(self, f"norm{index}")
        if self.norm_first:
            return ops.add(x, block(norm(x)))
        return norm(ops.add(x, block(x)))


class TransformerEncoderLayer(_TransformerLayer):
    """Self-attention then a feed-forward network (Vaswani et al., 2017).

    Registers ``self_attn``, ``linear1``, ``dropout``, ``linear2``, ``norm1``, ``norm2``,
    ``dropout1``, ``dropout2`` as PyTorch does.

    Raises:
        RuntimeError: ``activation`` is a string other than ``"relu"`` or ``"gelu"``.
    """

    _attentions = ("self_attn",)

    def forward(self, src: Any, src_mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Any:  # fmt: skip
        """Self-attention then the feed-forward block, each with a residual and a LayerNorm."""
        x = self._residual(
            src,
            1,
            lambda h: self._attend(
                self.self_attn, h, h, src_mask, src_key_padding_mask, is_causal, self.dropout1
            ),
        )
        return self._residual(x, 2, self._ff_block)


class TransformerDecoderLayer(_TransformerLayer):
    """Self-attention, attention over the encoder's memory, then a feed-forward network.

    Registers ``self_attn``, ``multihead_attn``, ``linear1``, ``dropout``, ``linear2``,
    ``norm1``..``norm3``, ``dropout1``..``dropout3`` as PyTorch does.

    Raises:
        RuntimeError: ``activation`` is a string other than ``"relu"`` or ``"gelu"``.
    """

    _attentions = ("self_attn", "multihead_attn")

    def forward(self, tgt: Any, memory: Any, tgt_mask: Any = None, memory_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                tgt_is_causal: bool = False, memory_is_causal: bool = False) -> Any:  # fmt: skip
        """Self-attention, attention over ``memory``, then the feed-forward block."""
        x = self._residual(
            tgt,
            1,
            lambda h: self._attend(
                self.self_attn, h, h, tgt_mask, tgt_key_padding_mask, tgt_is_causal, self.dropout1
            ),
        )
        x = self._residual(
            x,
            2,
            lambda h: self._attend(
                self.multihead_attn,
                h,
                memory,
                memory_mask,
                memory_key_padding_mask,
                memory_is_causal,
                self.dropout2,
            ),
        )
        return self._residual(x, 3, self._ff_block)


class TransformerEncoder(Layer):
    """``num_layers`` deep copies of ``encoder_layer`` in ``layers``, then an optional ``norm``."""

    def __init__(
        self,
        encoder_layer: TransformerEncoderLayer,
        num_layers: int,
        norm: Module | None = None,
        enable_nested_tensor: bool = True,
        mask_check: bool = True,
    ) -> None:
        super().__init__()
        self.layers = _get_clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check

    def forward(self, src: Any, mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool | None = None) -> Any:  # fmt: skip
        """Each layer in turn, then ``norm``. (Padded positions are computed, not zeroed: the
        nested-tensor fast path of PyTorch's eval mode is not reproduced.)"""
        output = src
        for layer in self.layers:
            output = layer(output, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                           is_causal=bool(is_causal) and mask is not None)  # fmt: skip
        return output if self.norm is None else self.norm(output)


class TransformerDecoder(Layer):
    """``num_layers`` deep copies of ``decoder_layer`` in ``layers``, then an optional ``norm``."""

    def __init__(
        self, decoder_layer: TransformerDecoderLayer, num_layers: int, norm: Module | None = None
    ) -> None:
        super().__init__()
        self.layers = _get_clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt: Any, memory: Any, tgt_mask: Any = None, memory_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Any:  # fmt: skip
        """Each layer in turn over ``memory``, then ``norm``."""
        output = tgt
        for layer in self.layers:
            output = layer(output, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                           memory_key_padding_mask, bool(tgt_is_causal) and tgt_mask is not None,
                           memory_is_causal)  # fmt: skip
        return output if self.norm is None else self.norm(output)


class Transformer(Layer):
    """The encoder-decoder Transformer; every parameter with 2+ dimensions Xavier-uniform."""

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[..., Any] = "relu",
        custom_encoder: Module | None = None,
        custom_decoder: Module | None = None,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        layer_args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                      batch_first, norm_first, bias)  # fmt: skip
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(*layer_args, **factory)
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
            self.encoder = TransformerEncoder(layer, num_encoder_layers, norm)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(*layer_args, **factory)
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
            self.decoder = TransformerDecoder(layer, num_decoder_layers, norm)
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def _reset_parameters(self) -> None:
        """Xavier-uniform every parameter of two or more dimensions."""
        for p in self.parameters():
            if p.dim() > 1:
                init.xavier_uniform_(p)

    def forward(self, src: Any, tgt: Any, src_mask: Any = None, tgt_mask: Any = None,
                memory_mask: Any = None, src_key_padding_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                src_is_causal: bool | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Any:  # fmt: skip
        """Encode ``src``, then decode ``tgt`` over the encoder's output."""
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)  # fmt: skip
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)  # fmt: skip

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None) -> Any:
        """A float ``(sz, sz)`` mask: 0 on and below the diagonal, -inf above."""
        ones = factories.ones(sz, sz, dtype=dtype, device=device)
        return ops.masked_fill(factories.zeros(sz, sz, dtype=dtype, device=device),
                               ops.logical_not(ops.tril(ones).bool()), float("-inf"))  # fmt: skip

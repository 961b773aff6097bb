"""LLaMA 2 with Hugging Face's parameter names (``LlamaForCausalLM``).

"Llama 2: Open Foundation and Fine-Tuned Chat Models" (Touvron et al., 2023,
https://arxiv.org/abs/2307.09288). Names and shapes follow ``transformers.LlamaForCausalLM``:

    model.embed_tokens
    model.layers.N.self_attn.q_proj / k_proj / v_proj / o_proj     (no biases)
    model.layers.N.mlp.gate_proj / up_proj / down_proj             (SwiGLU, no biases)
    model.layers.N.input_layernorm / post_attention_layernorm      (RMSNorm, weight only)
    model.norm
    lm_head                                                        (not tied to embed_tokens)

Rotary position embeddings have no learnt values: their inverse frequencies are a
non-persistent buffer (``model.rotary_emb.inv_freq``), out of the state_dict as in transformers.

LLaMA-2-7B (the defaults) has 6,738,415,616 parameters; ``build_model(size="70b")`` (or the 70B
config.json) gives 68,976,648,192, with grouped-query attention (8 key/value heads for 64 query
heads). Built with paramtool, either takes no parameter memory until its values are asked for.
"""

from dataclasses import dataclass, fields

import paramtool as torch
from paramtool import nn


@dataclass
class LlamaConfig:
    # Field names are those of transformers.LlamaConfig, so a Hub config.json can be passed in.
    vocab_size: int = 32000  # SentencePiece vocabulary
    hidden_size: int = 4096
    intermediate_size: int = 11008  # SwiGLU width, about 8/3 * hidden_size rounded to 256
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    num_key_value_heads: int | None = None  # < num_attention_heads: grouped-query attention
    head_dim: int | None = None  # None means hidden_size // num_attention_heads
    max_position_embeddings: int = 4096
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0  # base of the rotary frequencies
    initializer_range: float = 0.02  # std of the normal init of every weight matrix
    tie_word_embeddings: bool = False  # LLaMA 2 has a separate output matrix
    attention_bias: bool = False
    mlp_bias: bool = False


# The released LLaMA 2 sizes; any LlamaConfig field overrides these.
SIZES = {
    "7b": {},
    "13b": {
        "hidden_size": 5120,
        "intermediate_size": 13824,
        "num_hidden_layers": 40,
        "num_attention_heads": 40,
    },
    "70b": {
        "hidden_size": 8192,
        "intermediate_size": 28672,
        "num_hidden_layers": 80,
        "num_attention_heads": 64,
        "num_key_value_heads": 8,
    },
}


class LlamaRMSNorm(nn.Module):
    """Root-mean-square LayerNorm: x / rms(x) * weight, with no mean subtraction and no bias.

    "Root Mean Square Layer Normalization" (Zhang & Sennrich, 2019,
    https://arxiv.org/abs/1910.07467).
    """

    def __init__(self, hidden_size: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, x):
        variance = x.float().pow(2).mean(-1, keepdim=True)
        return self.weight * (x.float() * torch.rsqrt(variance + self.variance_epsilon)).to(x.dtype)


class LlamaRotaryEmbedding(nn.Module):
    """Rotary position embedding (RoPE, Su et al., 2021, https://arxiv.org/abs/2104.09864).

    Holds only the inverse frequencies theta^(-2i/d); nothing here is learnt or saved.
    """

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        dim = config.head_dim or config.hidden_size // config.num_attention_heads
        exponents = torch.arange(0, dim, 2, dtype=torch.float32) / dim
        self.register_buffer("inv_freq", 1.0 / (config.rope_theta**exponents), persistent=False)

    def forward(self, positions):
        angles = positions.float()[:, None] * self.inv_freq[None, :]
        angles = torch.cat((angles, angles), dim=-1)
        return angles.cos(), angles.sin()


def rotate_half(x):
    """(x1, x2) -> (-x2, x1) on the two halves of the last dimension."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class LlamaAttention(nn.Module):
    """Causal self-attention with rotary positions and optional grouped key/value heads."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads or config.num_attention_heads
        self.head_dim = config.head_dim or config.hidden_size // config.num_attention_heads
        bias = config.attention_bias
        q_out, kv_out = self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        self.q_proj = nn.Linear(config.hidden_size, q_out, bias=bias)
        # With grouped-query attention, k and v are narrower: each k/v head serves
        # num_heads // num_kv_heads query heads (Ainslie et al., 2023).
        self.k_proj = nn.Linear(config.hidden_size, kv_out, bias=bias)
        self.v_proj = nn.Linear(config.hidden_size, kv_out, bias=bias)
        self.o_proj = nn.Linear(q_out, config.hidden_size, bias=bias)

    def forward(self, x, cos, sin):
        b, t, _ = x.size()
        q = self.q_proj(x).view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.num_kv_heads, self.head_dim).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        groups = self.num_heads // self.num_kv_heads
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
        y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.o_proj(y.transpose(1, 2).reshape(b, t, -1))


class LlamaMLP(nn.Module):
    """SwiGLU feed-forward: down(silu(gate(x)) * up(x)) (Shazeer, 2020, arXiv:2002.05202)."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        h, i, bias = config.hidden_size, config.intermediate_size, config.mlp_bias
        self.gate_proj = nn.Linear(h, i, bias=bias)
        self.up_proj = nn.Linear(h, i, bias=bias)
        self.down_proj = nn.Linear(i, h, bias=bias)
        self.act_fn = nn.SiLU()

    def forward(self, x):
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(nn.Module):
    """Pre-norm block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.self_attn = LlamaAttention(config)
        self.mlp = LlamaMLP(config)
        self.input_layernorm = LlamaRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.post_attention_layernorm = LlamaRMSNorm(config.hidden_size, eps=config.rms_norm_eps)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    """Embeddings, decoder layers and the final norm (HF's ``model``)."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(
            [LlamaDecoderLayer(config) for _ in range(config.num_hidden_layers)]
        )
        self.norm = LlamaRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.rotary_emb = LlamaRotaryEmbedding(config)

    def forward(self, input_ids):
        cos, sin = self.rotary_emb(torch.arange(input_ids.size(1), device=input_ids.device))
        x = self.embed_tokens(input_ids)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.norm(x)


class LlamaForCausalLM(nn.Module):
    """LLaMA with its language-modelling head."""

    # Hugging Face's load conventions, as transformers' LLaMA declares them; files saved while
    # the rotary inv_freq buffer was persistent (transformers 4.30 and before) hold it.
    _keys_to_ignore_on_load_unexpected = [r"decoder\.version", r"rotary_emb\.inv_freq"]
    _tied_weights_keys = ["lm_head.weight"]

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.config = config
        self.model = LlamaModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.apply(self._init_weights)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    def _init_weights(self, module) -> None:
        # transformers' scheme for LLaMA: N(0, initializer_range) for every matrix; the RMSNorm
        # weights keep their initial ones.
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, input_ids):
        return self.lm_head(self.model(input_ids))


def build_model(size: str = "7b", config: dict | None = None, **overrides) -> LlamaForCausalLM:
    """Build LLaMA 2 from a size name, a Hub ``config.json`` and/or ``LlamaConfig`` fields.

    Args:
        size: ``"7b"`` (the default), ``"13b"`` or ``"70b"``.
        config: A Hub ``config.json`` as a dict; its ``LlamaConfig`` keys override the size's,
            its other keys (``architectures``, ``torch_dtype``, ...) are ignored.
        **overrides: ``LlamaConfig`` fields, overriding both (``--arg num_hidden_layers=2``).

    Returns:
        The model.

    Raises:
        ValueError: If ``size`` is not a known size.
        TypeError: If an override is not a ``LlamaConfig`` field.
    """
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {sorted(SIZES)}")
    known = {f.name for f in fields(LlamaConfig)}
    if unknown := sorted(set(overrides) - known):
        raise TypeError(f"not LlamaConfig fields: {', '.join(unknown)}")
    from_file = {k: v for k, v in (config or {}).items() if k in known}
    return LlamaForCausalLM(LlamaConfig(**{**SIZES[size], **from_file, **overrides}))

"""GPT-2 with Hugging Face's parameter names (``GPT2LMHeadModel``).

"Language Models are Unsupervised Multitask Learners" (Radford et al., 2019). The layout and
names follow ``transformers.GPT2LMHeadModel``, so that the ``gpt2`` checkpoints on the Hub load
with ``strict=True``:

    transformer.wte / wpe                      token and position embeddings
    transformer.h.N.ln_1, attn.c_attn, ...     N-th block (pre-LayerNorm)
    transformer.ln_f                           final LayerNorm
    lm_head                                    output projection, tied to transformer.wte

GPT-2's linear layers are "Conv1D" modules (from the original TensorFlow code): a matmul whose
weight is stored as ``(in_features, out_features)``, the transpose of ``nn.Linear``. Keeping that
layout is what makes an original checkpoint load unchanged.

The causal mask is not a buffer here: recent versions of transformers no longer store it in the
state_dict (it was a non-persistent buffer, then was dropped), and it holds no learnt values.

GPT-2 small (the defaults) has 124,439,808 parameters, counting the tied head once.
"""

import math
from dataclasses import dataclass, fields

import paramtool as torch
from paramtool import nn


@dataclass
class GPT2Config:
    # Field names are those of transformers.GPT2Config, so a Hub config.json can be passed in.
    vocab_size: int = 50257  # 50,000 BPE merges + 256 byte tokens + <|endoftext|>
    n_positions: int = 1024  # longest sequence; one learnt position embedding each
    n_embd: int = 768  # width of the residual stream
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None  # MLP width; None means 4 * n_embd
    resid_pdrop: float = 0.1
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02  # std of the normal init of every weight matrix
    tie_word_embeddings: bool = True  # lm_head shares its weight with transformer.wte


class Conv1D(nn.Module):
    """A linear layer with its weight stored as ``(nx, nf)`` = (in, out), as in GPT-2.

    Args:
        nf: Number of output features.
        nx: Number of input features.
    """

    def __init__(self, nf: int, nx: int) -> None:
        super().__init__()
        self.nf = nf
        self.nx = nx
        self.weight = nn.Parameter(torch.empty(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))
        nn.init.normal_(self.weight, std=0.02)

    def extra_repr(self) -> str:
        return f"nf={self.nf}, nx={self.nx}"

    def forward(self, x):
        return x @ self.weight + self.bias


class GPT2Attention(nn.Module):
    """Causal multi-head self-attention with one fused q/k/v projection."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.c_attn = Conv1D(3 * config.n_embd, config.n_embd)  # q, k, v side by side
        self.c_proj = Conv1D(config.n_embd, config.n_embd)
        self.attn_dropout = nn.Dropout(config.attn_pdrop)
        self.resid_dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x):
        b, t, c = x.size()
        q, k, v = self.c_attn(x).split(c, dim=2)
        # (b, t, c) -> (b, n_head, t, head_dim): every head attends on its own slice.
        q, k, v = (y.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for y in (q, k, v))
        p = self.attn_dropout.p if self.training else 0.0
        y = nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(b, t, c)
        return self.resid_dropout(self.c_proj(y))


class GPT2MLP(nn.Module):
    """Position-wise feed-forward: expand, GELU (tanh approximation, as GPT-2), project back."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        inner = config.n_inner or 4 * config.n_embd
        self.c_fc = Conv1D(inner, config.n_embd)
        self.c_proj = Conv1D(config.n_embd, inner)
        self.act = nn.GELU(approximate="tanh")
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x):
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


class GPT2Block(nn.Module):
    """One transformer block; LayerNorm comes before each sub-layer (GPT-2's change to GPT)."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = GPT2Attention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = GPT2MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT2Model(nn.Module):
    """Embeddings, the stack of blocks and the final LayerNorm (HF's ``transformer``)."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList([GPT2Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)

    def forward(self, idx):
        pos = torch.arange(idx.size(1), device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.h:
            x = block(x)
        return self.ln_f(x)


class GPT2LMHeadModel(nn.Module):
    """GPT-2 with its language-modelling head."""

    # Hugging Face's load conventions, as transformers' GPT2LMHeadModel declares them: older Hub
    # files store each block's causal-mask buffers, which this model derives instead; a file
    # may leave out the head, which is tied to the token embedding.
    _keys_to_ignore_on_load_unexpected = [r"h\.\d+\.attn\.bias", r"h\.\d+\.attn\.masked_bias"]
    _tied_weights_keys = ["lm_head.weight"]

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.config = config
        self.transformer = GPT2Model(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.apply(self._init_weights)
        # Scale the init of the projections that write into the residual stream by
        # 1/sqrt(2 * n_layer): two such writes per block ("GPT-2 paper", section 2.3).
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, std=config.initializer_range / math.sqrt(2 * config.n_layer))
        if config.tie_word_embeddings:
            # One tensor under two names: the output projection is the embedding matrix
            # (Press & Wolf, 2017, https://arxiv.org/abs/1608.05859).
            self.lm_head.weight = self.transformer.wte.weight

    def _init_weights(self, module) -> None:
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, Conv1D, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=std)
        if isinstance(module, (nn.Linear, Conv1D)) and module.bias is not None:
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(self, idx):
        return self.lm_head(self.transformer(idx))


# Hub sizes of the GPT-2 family (n_layer, n_head, n_embd).
SIZES = {
    "gpt2": (12, 12, 768),
    "gpt2-medium": (24, 16, 1024),
    "gpt2-large": (36, 20, 1280),
    "gpt2-xl": (48, 25, 1600),
}


def build_model(size: str = "gpt2", config: dict | None = None, **overrides) -> GPT2LMHeadModel:
    """Build GPT-2 from a size name, a Hub ``config.json`` and/or ``GPT2Config`` fields.

    Args:
        size: ``"gpt2"`` (small, the default), ``"gpt2-medium"``, ``"gpt2-large"``, ``"gpt2-xl"``.
        config: A Hub ``config.json`` as a dict; its ``GPT2Config`` keys override the size's,
            its other keys (``architectures``, ``task_specific_params``, ...) are ignored.
        **overrides: ``GPT2Config`` fields, overriding both (``--arg n_layer=2``).
            In either, the legacy ``n_ctx`` stands for ``n_positions``.

    Returns:
        The model, with ``lm_head.weight`` tied to ``transformer.wte.weight`` by default.

    Raises:
        ValueError: If ``size`` is not a known size.
        TypeError: If an override is not a ``GPT2Config`` field.
    """
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {sorted(SIZES)}")
    known = {f.name for f in fields(GPT2Config)}
    if unknown := sorted(set(overrides) - known - {"n_ctx"}):
        raise TypeError(f"not GPT2Config fields: {', '.join(unknown)}")
    n_layer, n_head, n_embd = SIZES[size]
    values = {"n_layer": n_layer, "n_head": n_head, "n_embd": n_embd}
    for given in (config or {}, overrides):
        if "n_ctx" in given:
            values["n_positions"] = given["n_ctx"]
        values.update({k: v for k, v in given.items() if k in known})
    return GPT2LMHeadModel(GPT2Config(**values))

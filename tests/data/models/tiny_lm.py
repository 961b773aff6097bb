"""A tiny language model: tied embedding and head, identical blocks, a frozen parameter,
persistent and non-persistent buffers. Built by ``build_model`` (accepts a config dict)."""

import paramtool as torch
from paramtool import nn


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim, bias=False)


class TinyLM(nn.Module):
    def __init__(self, vocab=16, dim=8, n_layer=3):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.zeros(1, 4, dim), requires_grad=False)
        self.layers = nn.ModuleList([Block(dim) for _ in range(n_layer)])
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.embed.weight  # tied, as GPT-2 ties wte and lm_head
        self.register_buffer("step", torch.zeros((), dtype=torch.int64))
        self.register_buffer("mask", torch.ones(4, 4), persistent=False)


def build_model(config=None):
    """Build from a config dict; keys TinyLM does not take (model_type, ...) are ignored."""
    config = config or {}
    return TinyLM(**{k: config[k] for k in ("vocab", "dim", "n_layer") if k in config})

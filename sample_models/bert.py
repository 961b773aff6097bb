"""BERT encoder with Hugging Face's parameter names (``BertModel``, bert-base-uncased).

"BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding" (Devlin et al.,
2018, https://arxiv.org/abs/1810.04805). Names and shapes follow ``transformers.BertModel``:

    embeddings.word_embeddings / position_embeddings / token_type_embeddings / LayerNorm
    encoder.layer.N.attention.self.query / key / value
    encoder.layer.N.attention.output.dense / LayerNorm
    encoder.layer.N.intermediate.dense
    encoder.layer.N.output.dense / LayerNorm
    pooler.dense                               tanh projection of the [CLS] token

Unlike GPT-2, the LayerNorm comes *after* each residual addition ("post-LN", as in the original
Transformer). ``embeddings.position_ids`` is a buffer kept out of the state_dict
(``persistent=False``), as in current transformers.

bert-base-uncased (the defaults) has 109,482,240 parameters.
"""

from dataclasses import dataclass, fields

import paramtool as torch
from paramtool import nn


@dataclass
class BertConfig:
    # Field names are those of transformers.BertConfig, so a Hub config.json can be passed in.
    vocab_size: int = 30522  # WordPiece vocabulary of bert-base-uncased
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072  # feed-forward width, 4 * hidden_size
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2  # sentence A / sentence B
    initializer_range: float = 0.02  # std of the normal init of weights and embeddings
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    add_pooling_layer: bool = True  # BertModel's own argument: keep the [CLS] pooler


class BertEmbeddings(nn.Module):
    """Sum of word, position and segment embeddings, then LayerNorm and dropout."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(
            config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id
        )
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        # The attribute is named LayerNorm, not layer_norm, to match the TensorFlow checkpoints.
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        # 0 .. max_position_embeddings - 1; derived, so not saved.
        self.register_buffer(
            "position_ids",
            torch.arange(config.max_position_embeddings).view(1, -1),
            persistent=False,
        )

    def forward(self, input_ids, token_type_ids=None):
        if token_type_ids is None:  # one segment, as transformers defaults to
            token_type_ids = torch.zeros_like(input_ids)
        positions = self.position_ids[:, : input_ids.size(1)]
        x = self.word_embeddings(input_ids)
        x = x + self.position_embeddings(positions) + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    """Bidirectional multi-head attention with separate q, k, v projections."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def forward(self, x):
        b, t, c = x.size()
        q, k, v = (
            y(x).view(b, t, self.num_heads, c // self.num_heads).transpose(1, 2)
            for y in (self.query, self.key, self.value)
        )
        p = self.dropout.p if self.training else 0.0
        y = nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=p)
        return y.transpose(1, 2).reshape(b, t, c)


class BertSelfOutput(nn.Module):
    """Projection of the attention result, dropout, residual add, LayerNorm."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, h, residual):
        return self.LayerNorm(self.dropout(self.dense(h)) + residual)


class BertAttention(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, x):
        return self.output(self.self(x), x)


class BertIntermediate(nn.Module):
    """First half of the feed-forward network: expand and GELU (exact erf form)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = nn.GELU()

    def forward(self, x):
        return self.intermediate_act_fn(self.dense(x))


class BertOutput(nn.Module):
    """Second half of the feed-forward network: project back, dropout, residual, LayerNorm."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, h, residual):
        return self.LayerNorm(self.dropout(self.dense(h)) + residual)


class BertLayer(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, x):
        x = self.attention(x)
        return self.output(self.intermediate(x), x)


class BertEncoder(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, x):
        for layer in self.layer:
            x = layer(x)
        return x


class BertPooler(nn.Module):
    """Sentence representation: tanh(W h_[CLS] + b), trained by next-sentence prediction."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, x):
        return self.activation(self.dense(x[:, 0]))


class BertModel(nn.Module):
    """The BERT encoder with its optional pooler."""

    # Hugging Face's load conventions, as transformers' BERT declares them: files saved while
    # position_ids was persistent hold it, and newer files do not.
    _keys_to_ignore_on_load_unexpected = [r"position_ids"]
    _keys_to_ignore_on_load_missing = [r"position_ids"]

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if config.add_pooling_layer else None
        self.apply(self._init_weights)

    def _init_weights(self, module) -> None:
        # BERT's initialisation: N(0, 0.02) for every matrix, zero biases, identity LayerNorm.
        # (transformers also zeroes the padding row of word_embeddings.)
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(self, input_ids, token_type_ids=None):
        x = self.encoder(self.embeddings(input_ids, token_type_ids))
        return x, (self.pooler(x) if self.pooler is not None else None)


def build_model(config: dict | None = None, **overrides) -> BertModel:
    """Build BertModel from a Hub ``config.json`` and/or ``BertConfig`` fields.

    The defaults are bert-base-uncased.

    Args:
        config: A Hub ``config.json`` as a dict; its ``BertConfig`` keys are used, its other
            keys (``architectures``, ``transformers_version``, ...) are ignored.
        **overrides: ``BertConfig`` fields, overriding the config (``--arg num_hidden_layers=2``).

    Returns:
        The model.

    Raises:
        TypeError: If an override is not a ``BertConfig`` field.
    """
    known = {f.name for f in fields(BertConfig)}
    if unknown := sorted(set(overrides) - known):
        raise TypeError(f"not BertConfig fields: {', '.join(unknown)}")
    from_file = {k: v for k, v in (config or {}).items() if k in known}
    return BertModel(BertConfig(**{**from_file, **overrides}))

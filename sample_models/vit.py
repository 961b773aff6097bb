"""Vision Transformer ViT-B/16 with timm's parameter names (``vit_base_patch16_224``).

"An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale" (Dosovitskiy et al.,
2020, https://arxiv.org/abs/2010.11929). Names and shapes follow timm's ``VisionTransformer``
(the layout of the ``timm/vit_base_patch16_224.*`` checkpoints on the Hugging Face Hub):

    cls_token (1, 1, 768)             learnt [class] token, prepended to the patch sequence
    pos_embed (1, 197, 768)           learnt position embedding: 14 x 14 patches + the class token
    patch_embed.proj                  16x16 stride-16 convolution: one 768-d token per patch
    blocks.N.norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2
    norm                              final LayerNorm
    head                              classifier on the class token

ViT-B/16 with 1000 classes has 86,567,656 parameters.
"""

from dataclasses import dataclass, fields

import paramtool as torch
from paramtool import nn


@dataclass
class ViTConfig:
    # Field names are timm's VisionTransformer arguments.
    img_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    num_classes: int = 1000  # ImageNet-1k
    embed_dim: int = 768  # "Base"
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    qkv_bias: bool = True


class PatchEmbed(nn.Module):
    """Split the image into patches and project each to ``embed_dim`` with one convolution."""

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.num_patches = (config.img_size // config.patch_size) ** 2
        self.proj = nn.Conv2d(
            config.in_chans, config.embed_dim, config.patch_size, stride=config.patch_size
        )

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # (b, c, h, w) -> (b, h*w, c)


class Attention(nn.Module):
    """Bidirectional multi-head self-attention with a fused q/k/v projection."""

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.num_heads = config.num_heads
        self.qkv = nn.Linear(config.embed_dim, 3 * config.embed_dim, bias=config.qkv_bias)
        self.proj = nn.Linear(config.embed_dim, config.embed_dim)

    def forward(self, x):
        b, t, c = x.size()
        qkv = self.qkv(x).view(b, t, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        y = nn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


class Mlp(nn.Module):
    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        hidden = int(config.embed_dim * config.mlp_ratio)
        self.fc1 = nn.Linear(config.embed_dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, config.embed_dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer encoder block."""

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.embed_dim, eps=1e-6)
        self.attn = Attention(config)
        self.norm2 = nn.LayerNorm(config.embed_dim, eps=1e-6)
        self.mlp = Mlp(config)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """ViT: patch tokens plus a class token through a transformer encoder, then a linear head."""

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        dim = config.embed_dim
        self.patch_embed = PatchEmbed(config)
        # Two free-standing Parameters, created from randn as in the original ViT code; timm's
        # scheme below then narrows them.
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, self.patch_embed.num_patches + 1, dim))
        self.blocks = nn.Sequential(*[Block(config) for _ in range(config.depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, config.num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # timm's default ("") scheme: truncated normal std 0.02 for the position embedding and
        # every Linear, a near-zero class token, zero biases.
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.patch_embed(x)
        cls = self.cls_token.expand(x.size(0), -1, -1)
        x = torch.cat((cls, x), dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def build_model(config: dict | None = None, **overrides) -> VisionTransformer:
    """Build a ViT from timm-style arguments; the defaults are ViT-B/16 at 224 px.

    Args:
        config: A timm ``config.json`` as a dict; its ``ViTConfig`` keys (``num_classes``)
            are used, its other keys (``architecture``, ``pretrained_cfg``, ...) are ignored.
        **overrides: ``ViTConfig`` fields, overriding the config (``--arg depth=2``).

    Returns:
        The model.

    Raises:
        TypeError: If an override is not a ``ViTConfig`` field.
    """
    known = {f.name for f in fields(ViTConfig)}
    if unknown := sorted(set(overrides) - known):
        raise TypeError(f"not ViTConfig fields: {', '.join(unknown)}")
    from_file = {k: v for k, v in (config or {}).items() if k in known}
    return VisionTransformer(ViTConfig(**{**from_file, **overrides}))

"""The sample model files (LLaMA with grouped-query attention and rotary embeddings, BERT, ViT,
GPT-2) run on paramtool and on PyTorch with the same weights: outputs and every parameter's
gradient agree. Needs PyTorch (a local check; CI records the small GPT instead)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import paramtool  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from bench_forward import load_sample  # noqa: E402

RNG = np.random.default_rng(0)
CASES = {
    "llama": (dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2, vocab_size=100),
              lambda: (RNG.integers(0, 100, (2, 12)),)),
    "bert": (dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=128, vocab_size=100),
             lambda: (RNG.integers(0, 100, (2, 12)), RNG.integers(0, 2, (2, 12)))),
    "vit": (dict(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4, num_classes=10),
            lambda: (RNG.standard_normal((2, 3, 32, 32)).astype(np.float32),)),
    "gpt2": (dict(n_layer=2, n_embd=64, n_head=4, vocab_size=100),
             lambda: (RNG.integers(0, 100, (2, 12)),)),
}  # fmt: skip


def _first(out: object) -> object:
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("name", sorted(CASES))
def test_sample_outputs_and_gradients_match_pytorch(name: str) -> None:
    kwargs, make_input = CASES[name]
    ours = load_sample(name, False).build_model(**kwargs).materialize(seed=0).eval()
    theirs = load_sample(name, True).build_model(**kwargs).eval()
    state = {k: torch.from_numpy(np.array(v.numpy())) for k, v in ours.state_dict().items()}
    theirs.load_state_dict(state, strict=False)
    inputs = make_input()
    out_p = _first(ours(*(paramtool.tensor(a) for a in inputs)))
    out_t = _first(theirs(*(torch.from_numpy(a) for a in inputs)))
    np.testing.assert_allclose(out_p.detach().numpy(), out_t.detach().numpy(), rtol=1e-4, atol=1e-5)
    weights = np.random.default_rng(1).standard_normal(tuple(out_t.shape)).astype(np.float32)
    (out_p * paramtool.tensor(weights)).sum().backward()
    (out_t * torch.from_numpy(weights)).sum().backward()
    ours_params = dict(ours.named_parameters())
    for key, param in theirs.named_parameters():
        if param.grad is None:  # not on the path to the output (BERT's pooler)
            assert ours_params[key].grad is None, key
            continue
        expected = param.grad.numpy()
        scale = float(np.abs(expected).max())
        if scale < 1e-6:  # a gradient that is zero up to rounding (e.g. attention's key bias)
            continue
        np.testing.assert_allclose(ours_params[key].grad.numpy(), expected, rtol=1e-3,
                                   atol=1e-4 * scale, err_msg=key)  # fmt: skip

"""A small GPT (causal attention, tied head, cross-entropy): logits, loss and every gradient
equal PyTorch's; GPT-2's sample file runs forward and backward."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import paramtool

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))
import model_cases  # noqa: E402

SAMPLES = Path(__file__).resolve().parent.parent / "sample_models"


def saved() -> dict[str, np.ndarray]:
    with np.load(model_cases.FILE) as data:
        return {k: data[k] for k in data.files}


def built() -> tuple[object, dict[str, np.ndarray]]:
    data = saved()
    model = model_cases.small_gpt(paramtool)
    model_cases.load(paramtool, model, {k[5:]: v for k, v in data.items() if k.startswith("init:")})
    return model, data


def test_small_gpt_logits_loss_and_gradients_match_pytorch() -> None:
    model, data = built()
    idx, targets = (paramtool.tensor(a) for a in model_cases.batch())
    logits, loss = model(idx, targets)
    np.testing.assert_allclose(logits.detach().numpy(), data["logits"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(loss.item(), data["loss"], rtol=1e-5)
    loss.backward()
    names = [name for name, _ in model.named_parameters()]
    assert "head.weight" not in names  # tied to wte.weight: one parameter, both gradients
    assert sorted(names) == sorted(k[5:] for k in data if k.startswith("grad:"))
    for name, param in model.named_parameters():
        np.testing.assert_allclose(param.grad.numpy(), data[f"grad:{name}"], rtol=1e-4,
                                   atol=1e-6, err_msg=name)  # fmt: skip


def test_gpt2_sample_runs_forward_and_backward() -> None:
    sys.path.insert(0, str(SAMPLES))
    try:
        import gpt2  # noqa: PLC0415
    finally:
        sys.path.remove(str(SAMPLES))
    model = gpt2.build_model("gpt2", n_layer=2, n_embd=64, n_head=4, vocab_size=100).eval()
    ids = paramtool.randint(0, 100, (2, 16))
    logits = model(ids)
    assert tuple(logits.shape) == (2, 16, 100)
    logits.logsumexp(-1).mean().backward()
    wte = model.transformer.wte.weight
    assert wte.grad is not None and float(wte.grad.abs().sum()) > 0

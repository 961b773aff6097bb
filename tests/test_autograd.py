"""The autograd engine: gradients accumulate per use, graph semantics and PyTorch's errors."""

from __future__ import annotations

import numpy as np
import pytest

import paramtool as pt
from paramtool import nn
from paramtool.core import autograd


def test_shared_weight_output_9_gradient_6() -> None:
    lin = nn.Linear(1, 1, bias=False)
    with pt.no_grad():
        lin.weight.fill_(3.0)
    net = nn.Sequential(lin, lin)
    y = net(pt.tensor([[1.0]]))
    y.backward()
    assert y.item() == 9.0
    assert lin.weight.grad.item() == 6.0  # x * w used twice: d(w*w*x)/dw = 2wx


def test_polynomial_gradient_and_accumulation() -> None:
    x = pt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x + 2 * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 6.0, 8.0])
    (x * 3).sum().backward()  # accumulates into the same .grad
    np.testing.assert_allclose(x.grad.numpy(), [7.0, 9.0, 11.0])


def test_graph_attributes() -> None:
    x = pt.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    assert x.is_leaf and not y.is_leaf
    assert y.requires_grad and type(y.grad_fn).__name__ == "MulBackward0"
    assert repr(y) == "tensor([2., 4.], grad_fn=<MulBackward0>)"
    (node, nr), _ = y.grad_fn.next_functions
    assert node.name() == "AccumulateGrad" and node.variable is x


def test_no_grad_and_enable_grad() -> None:
    x = pt.tensor([1.0], requires_grad=True)
    with pt.no_grad():
        y = x * 2
        with pt.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad


def test_detach_and_retain_grad() -> None:
    x = pt.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    h.retain_grad()
    d = h.detach()
    assert not d.requires_grad and d.is_leaf
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), [6.0, 12.0])
    np.testing.assert_allclose(x.grad.numpy(), [18.0, 36.0])


def test_backward_with_gradient_and_errors() -> None:
    x = pt.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    with pytest.raises(
        RuntimeError, match="grad can be implicitly created only for scalar outputs"
    ):
        y.backward()
    y.backward(pt.tensor([1.0, 0.5]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward(pt.tensor([1.0, 1.0]))
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
        pt.tensor([1.0]).backward()


def test_hooks_and_autograd_grad() -> None:
    x = pt.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g * 10)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [20.0, 40.0])
    y = pt.tensor([3.0], requires_grad=True)
    (g,) = autograd.grad((y * y).sum(), y)
    assert g.item() == 6.0 and y.grad is None


def test_inplace_on_leaf_is_an_error_and_on_nonleaf_recorded() -> None:
    x = pt.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x.add_(1)
    h = x * 2
    h += x
    h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_record_contract_broadcasting_op_and_multi_outputs() -> None:
    a = pt.tensor([[1.0, 2.0, 3.0]], requires_grad=True)  # (1, 3) broadcast against (2, 3)
    b = pt.tensor([[1.0], [2.0]], requires_grad=True)  # (2, 1)
    x, y = a._array(), b._array()
    out = autograd.record(
        x * y,
        (a, b, None, 2.0),
        lambda g: (
            autograd.unbroadcast(g * y, (1, 3)),
            autograd.unbroadcast(g * x, (2, 1)),
            None,
            None,
        ),  # fmt: skip
        name="MyMulBackward",
    )
    assert type(out.grad_fn).__name__ == "MyMulBackward"
    out.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [[3.0, 3.0, 3.0]])
    np.testing.assert_allclose(b.grad.numpy(), [[6.0], [6.0]])
    seen = []
    first, second = autograd.record_multi(
        [x[:, :1], x[:, 1:]], (a,), lambda gs: (seen.append(gs) or np.concatenate(gs, 1),),
        name="SplitBackward0",
    )  # fmt: skip
    a.grad = None
    (first * 5).sum().backward()  # second gets no gradient: zeros reach the backward
    np.testing.assert_allclose(seen[0][1], [[0.0, 0.0]])
    np.testing.assert_allclose(a.grad.numpy(), [[5.0, 0.0, 0.0]])
    with pt.no_grad():
        plain = autograd.record(x * 2, (a,), lambda g: (g,), name="X")
    assert plain.grad_fn is None and not plain.requires_grad


def test_manual_sgd_loop_of_the_tutorials() -> None:
    # y = 2x + 1 learnt by hand: in-place updates under no_grad, grads zeroed in place
    x = pt.linspace(-1, 1, 16).reshape(16, 1)
    y = 2 * x + 1
    model = nn.Linear(1, 1)
    with pt.no_grad():
        model.weight.fill_(0.0)
        model.bias.fill_(0.0)
    for _ in range(200):
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        with pt.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
                p.grad.zero_()
    assert model.weight.is_leaf and model.weight.requires_grad
    np.testing.assert_allclose(model.weight.item(), 2.0, rtol=1e-3)
    np.testing.assert_allclose(model.bias.item(), 1.0, rtol=1e-3)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float64"])
def test_low_and_high_precision_keep_their_dtype(dtype: str) -> None:
    # PyTorch keeps a model's dtype through linear, matmul, einsum, norms and attention (numpy
    # would widen bfloat16 products to float32); gradients arrive in the parameter's dtype
    model = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.LayerNorm(16), nn.Linear(16, 4))
    model = model.to(getattr(pt, dtype))
    x = pt.randn(3, 8).to(getattr(pt, dtype))
    y = model(x)
    q = pt.randn(1, 2, 4, 8).to(getattr(pt, dtype))
    outs = [y, x @ x.t(), pt.einsum("ij,kj->ik", x, x),
            pt.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True)]  # fmt: skip
    assert {str(o.dtype) for o in outs} == {dtype}
    pt.nn.functional.cross_entropy(y.float(), pt.tensor([0, 1, 2])).backward()
    assert str(model[0].weight.grad.dtype) == dtype

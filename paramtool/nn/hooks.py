"""Module hooks and the call path, with ``torch.nn.Module``'s semantics.

Calling a module runs, in order: the global then the module's forward pre-hooks (each may
replace the positional arguments, or with ``with_kwargs=True`` the arguments and keyword
arguments), ``forward``, then the global and the module's forward hooks (each may replace the
output). A hook registered with ``prepend=True`` runs before the others of its kind; a forward
hook registered with ``always_call=True`` also runs when ``forward`` raises (its own error is
then turned into a warning and the forward's error propagates).

Full backward hooks see the gradients of the module: a backward pre-hook gets ``grad_output``
(and may replace it) when the gradient of the output is known; a backward hook gets
``grad_input, grad_output`` once the gradient of every tensor input is known (and may replace
``grad_input``). Both are set up by wrapping the tensor inputs and outputs of the call in an
identity op of the autograd graph, as PyTorch does, so they fire only when the call recorded a
graph (grad mode on and an input or parameter requiring grad).

Every ``register_*`` returns a :class:`RemovableHandle`; ``handle.remove()`` (or leaving a
``with handle:`` block) unregisters the hook.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from paramtool.core import autograd
from paramtool.core.hooks import RemovableHandle
from paramtool.core.tensor import Tensor, from_array

if TYPE_CHECKING:
    from paramtool.nn.module import Module

Hook = Callable[..., Any]


def _register(
    registry: OrderedDict[int, Hook], hook: Hook, prepend: bool, *flags: dict[int, bool] | None
) -> RemovableHandle:
    """Add ``hook`` to ``registry`` (first if ``prepend``) and its id to the given flag dicts."""
    chosen = [flag for flag in flags if flag is not None]
    handle = RemovableHandle(registry, extra_dict=chosen)
    registry[handle.id] = hook
    for flag in chosen:
        flag[handle.id] = True
    if prepend:
        registry.move_to_end(handle.id, last=False)
    return handle


# -- global hooks: called for every module ----------------------------------------------------

_global_forward_pre_hooks: OrderedDict[int, Hook] = OrderedDict()
_global_forward_hooks: OrderedDict[int, Hook] = OrderedDict()
_global_forward_hooks_with_kwargs: OrderedDict[int, bool] = OrderedDict()
_global_forward_hooks_always_called: OrderedDict[int, bool] = OrderedDict()
_global_backward_pre_hooks: OrderedDict[int, Hook] = OrderedDict()
_global_backward_hooks: OrderedDict[int, Hook] = OrderedDict()


def register_module_forward_pre_hook(hook: Hook) -> RemovableHandle:
    """Run ``hook(module, args)`` before every module's forward (before its own pre-hooks)."""
    return _register(_global_forward_pre_hooks, hook, False)


def register_module_forward_hook(
    hook: Hook, *, with_kwargs: bool = False, always_call: bool = False
) -> RemovableHandle:
    """Run ``hook(module, args, output)`` after every module's forward (before its own hooks).

    Args:
        hook: The hook; with ``with_kwargs`` it is called as ``hook(module, args, kwargs, output)``.
        with_kwargs: Pass the keyword arguments too.
        always_call: Run the hook even when the forward raises.
    """
    return _register(
        _global_forward_hooks,
        hook,
        False,
        _global_forward_hooks_with_kwargs if with_kwargs else None,
        _global_forward_hooks_always_called if always_call else None,
    )


def register_module_full_backward_pre_hook(hook: Hook) -> RemovableHandle:
    """Run ``hook(module, grad_output)`` for every module (see :class:`HookMethods`)."""
    return _register(_global_backward_pre_hooks, hook, False)


def register_module_full_backward_hook(hook: Hook) -> RemovableHandle:
    """Run ``hook(module, grad_input, grad_output)`` for every module."""
    return _register(_global_backward_hooks, hook, False)


_HOOK_REGISTRIES = (
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_backward_pre_hooks",
    "_backward_hooks",
)


class HookMethods:
    """The ``register_*_hook`` methods of Module and the call path that runs the hooks."""

    _forward_pre_hooks: OrderedDict[int, Hook]
    _forward_pre_hooks_with_kwargs: dict[int, bool]
    _forward_hooks: OrderedDict[int, Hook]
    _forward_hooks_with_kwargs: dict[int, bool]
    _forward_hooks_always_called: dict[int, bool]
    _backward_pre_hooks: OrderedDict[int, Hook]
    _backward_hooks: OrderedDict[int, Hook]
    forward: Callable[..., Any]

    def _init_hooks(self) -> None:
        for name in _HOOK_REGISTRIES:
            object.__setattr__(self, name, OrderedDict())

    def register_forward_pre_hook(
        self, hook: Hook, *, prepend: bool = False, with_kwargs: bool = False
    ) -> RemovableHandle:
        """Run ``hook(module, args)`` before each forward; a non-None result replaces ``args``
        (a single value is wrapped in a tuple).

        Args:
            hook: The hook; with ``with_kwargs`` it is ``hook(module, args, kwargs)`` and returns
                None or a tuple ``(new_args, new_kwargs)``.
            prepend: Run before the pre-hooks already registered.
            with_kwargs: Pass (and let the hook replace) the keyword arguments too.

        Returns:
            A handle whose ``remove()`` unregisters the hook.
        """
        flag = self._forward_pre_hooks_with_kwargs if with_kwargs else None
        return _register(self._forward_pre_hooks, hook, prepend, flag)

    def register_forward_hook(
        self,
        hook: Hook,
        *,
        prepend: bool = False,
        with_kwargs: bool = False,
        always_call: bool = False,
    ) -> RemovableHandle:
        """Run ``hook(module, args, output)`` after each forward; a non-None result replaces
        the output.

        Args:
            hook: The hook; with ``with_kwargs`` it is ``hook(module, args, kwargs, output)``.
            prepend: Run before the forward hooks already registered.
            with_kwargs: Pass the keyword arguments too.
            always_call: Also run when the forward raises (the forward's error propagates).

        Returns:
            A handle whose ``remove()`` unregisters the hook.
        """
        return _register(
            self._forward_hooks,
            hook,
            prepend,
            self._forward_hooks_with_kwargs if with_kwargs else None,
            self._forward_hooks_always_called if always_call else None,
        )

    def register_full_backward_pre_hook(self, hook: Hook, prepend: bool = False) -> RemovableHandle:
        """Run ``hook(module, grad_output)`` when the gradient of the output is computed; a
        non-None result (a tuple of the same length) replaces ``grad_output``."""
        return _register(self._backward_pre_hooks, hook, prepend)

    def register_full_backward_hook(self, hook: Hook, prepend: bool = False) -> RemovableHandle:
        """Run ``hook(module, grad_input, grad_output)`` when the gradients of the module's
        inputs are computed; a non-None result (a tuple of the same length) replaces
        ``grad_input``. When no input requires grad it fires with ``grad_input`` all None, as
        soon as ``grad_output`` is known."""
        return _register(self._backward_hooks, hook, prepend)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not (
            self._forward_pre_hooks
            or self._forward_hooks
            or self._backward_pre_hooks
            or self._backward_hooks
            or _global_forward_pre_hooks
            or _global_forward_hooks
            or _global_backward_pre_hooks
            or _global_backward_hooks
        ):
            return self.forward(*args, **kwargs)
        return _Call(self, args, kwargs).run()  # type: ignore[arg-type]

    _call_impl = __call__  # PyTorch's name, which some model code calls directly


class _Call:
    """One call of a module with hooks: the state its forward hooks and error path share."""

    def __init__(self, module: Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.module, self.args, self.kwargs = module, args, kwargs
        self.result: Any = None
        self.called: set[int] = set()  # always-call hooks already run

    def run(self) -> Any:
        try:
            return self._run()
        except Exception:
            self._run_always_called()
            raise

    def _run(self) -> Any:
        module = self.module
        backward_pre = [*_global_backward_pre_hooks.values(), *module._backward_pre_hooks.values()]
        backward = [*_global_backward_hooks.values(), *module._backward_hooks.values()]
        self._run_pre_hooks()
        bw_hook = (
            _BackwardHook(module, backward, backward_pre) if backward or backward_pre else None
        )
        if bw_hook is not None:
            self.args = bw_hook.setup_input_hook(self.args)
        self.result = module.forward(*self.args, **self.kwargs)
        for hook_id, hook in (*_global_forward_hooks.items(), *module._forward_hooks.items()):
            if hook_id in module._forward_hooks_always_called or (
                hook_id in _global_forward_hooks_always_called
            ):
                self.called.add(hook_id)
            self._call_forward_hook(hook_id, hook)
        if bw_hook is not None:
            if not isinstance(self.result, (Tensor, tuple)):
                warnings.warn(
                    "For backward hooks to be called, module output should be a Tensor or a "
                    f"tuple of Tensors but received {type(self.result)}",
                    stacklevel=3,
                )
            self.result = bw_hook.setup_output_hook(self.result)
        return self.result

    def _run_pre_hooks(self) -> None:
        module = self.module
        for hook_id, hook in (
            *_global_forward_pre_hooks.items(),
            *module._forward_pre_hooks.items(),
        ):
            if hook_id in module._forward_pre_hooks_with_kwargs:
                result = hook(module, self.args, self.kwargs)
                if result is None:
                    continue
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(
                        "forward pre-hook must return None or a tuple of (new_args, new_kwargs), "
                        f"but got {result}."
                    )
                self.args, self.kwargs = result
            else:
                result = hook(module, self.args)
                if result is not None:
                    self.args = result if isinstance(result, tuple) else (result,)

    def _call_forward_hook(self, hook_id: int, hook: Hook) -> None:
        module = self.module
        if hook_id in module._forward_hooks_with_kwargs or (
            hook_id in _global_forward_hooks_with_kwargs
        ):
            result = hook(module, self.args, self.kwargs, self.result)
        else:
            result = hook(module, self.args, self.result)
        if result is not None:
            self.result = result

    def _run_always_called(self) -> None:
        """After a failed forward: the always-call hooks not yet run; their errors only warn."""
        module = self.module
        for registry, flags, what in (
            (_global_forward_hooks, _global_forward_hooks_always_called, "global module"),
            (module._forward_hooks, module._forward_hooks_always_called, "module"),
        ):
            for hook_id, hook in list(registry.items()):
                if hook_id not in flags or hook_id in self.called:
                    continue
                try:
                    self._call_forward_hook(hook_id, hook)
                except Exception as exc:
                    warnings.warn(
                        f"{what} forward hook with ``always_call=True`` raised an exception that "
                        f"was silenced as another error was raised in forward: {exc}",
                        stacklevel=4,
                    )


class _BackwardHook:
    """Full backward hooks of one call: identity ops on the tensor inputs and outputs whose
    backward sees (and may replace) the gradients flowing through the module."""

    def __init__(self, module: Module, hooks: list[Hook], pre_hooks: list[Hook]) -> None:
        self.module, self.hooks, self.pre_hooks = module, hooks, pre_hooks
        self.grad_outputs: tuple[Any, ...] | None = None
        self.n_inputs = self.n_outputs = -1
        self.input_index: list[int] | None = None
        self.output_index: list[int] | None = None

    def setup_input_hook(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """Wrap the tensor arguments; their backward calls the backward hooks."""
        self.n_inputs = len(args)
        args, self.input_index = _wrap_tensors(args, self._on_input_grads)
        return args

    def setup_output_hook(self, result: Any) -> Any:
        """Wrap the tensor outputs; their backward runs the pre-hooks and keeps grad_output."""
        single = not isinstance(result, tuple)
        outputs = (result,) if single else result
        self.n_outputs = len(outputs)
        outputs, self.output_index = _wrap_tensors(outputs, self._on_output_grads)
        return outputs[0] if single else outputs

    def _on_output_grads(self, grads: list[Any]) -> list[Any]:
        self.grad_outputs = _pack(self.output_index or [], grads, self.n_outputs)
        for hook in self.pre_hooks:
            replaced = hook(self.module, self.grad_outputs)
            if replaced is None:
                continue
            if len(replaced) != len(self.grad_outputs):
                raise RuntimeError(
                    "Backward pre hook returned an invalid number of grad_output, "
                    f"got {len(replaced)}, but expected {len(self.grad_outputs)}"
                )
            self.grad_outputs = tuple(replaced)
        local = self.grad_outputs
        if self.input_index is None:
            self._fire_without_inputs()
        return [_unwrap(local[i]) for i in self.output_index or []]

    def _fire_without_inputs(self) -> None:
        warnings.warn(
            "Full backward hook is firing when gradients are computed with respect to module "
            "outputs since no inputs require gradients.",
            stacklevel=2,
        )
        grad_inputs = (None,) * self.n_inputs
        for hook in self.hooks:
            res = hook(self.module, grad_inputs, self.grad_outputs)
            if res is not None and not (isinstance(res, tuple) and all(g is None for g in res)):
                raise RuntimeError(
                    "Backward hook for Modules where no input requires gradient should always "
                    "return None or None for all gradients."
                )
        self.grad_outputs = None

    def _on_input_grads(self, grads: list[Any]) -> list[Any]:
        if self.grad_outputs is None:  # the output's gradient never came through the module
            return grads
        res = _pack(self.input_index or [], grads, self.n_inputs)
        for hook in self.hooks:
            replaced = hook(self.module, res, self.grad_outputs)
            if replaced is None:
                continue
            if len(replaced) != len(res):
                raise RuntimeError(
                    "Backward hook returned an invalid number of grad_input, "
                    f"got {len(replaced)}, but expected {len(res)}"
                )
            res = tuple(replaced)
        self.grad_outputs = None
        return [_unwrap(res[i]) for i in self.input_index or []]


def _wrap_tensors(
    values: tuple[Any, ...], backward: Callable[[list[Any]], list[Any]]
) -> tuple[tuple[Any, ...], list[int] | None]:
    """Pass the tensors among ``values`` through one identity op whose backward is
    ``backward`` (gradients as Tensors, None where a tensor does not require grad)."""
    index = [i for i, value in enumerate(values) if isinstance(value, Tensor)]
    tensors = [values[i] for i in index]
    if not (autograd.is_grad_enabled() and any(t.requires_grad for t in tensors)):
        return values, None
    needs = [t.requires_grad for t in tensors]

    def identity_backward(grads: list[Any]) -> list[Any]:
        wrapped = [_tensor(g) if need else None for g, need in zip(grads, needs, strict=True)]
        return backward(wrapped)

    outputs = autograd.record_multi(
        [t._array() for t in tensors],
        tensors,
        identity_backward,
        name="BackwardHookFunctionBackward",
    )
    replaced = list(values)
    for i, out in zip(index, outputs, strict=True):
        replaced[i] = out
    return tuple(replaced), index


def _pack(index: list[int], values: list[Any], size: int) -> tuple[Any, ...]:
    packed: list[Any] = [None] * size
    for i, value in zip(index, values, strict=True):
        packed[i] = value
    return tuple(packed)


def _tensor(grad: Any) -> Tensor | None:
    return None if grad is None else from_array(grad)


def _unwrap(grad: Any) -> Any:
    return grad._array() if isinstance(grad, Tensor) else grad

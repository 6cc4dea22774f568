"""Small trusted helpers that run inside the child, next to the student's objects.

Graders call them through ``Submission.probe(name, ...)`` when a question can only be
answered where the object lives (gradients through student code, iterating a student's
generator, a module's parameters). They return data; the assertions stay in the parent.
"""
from __future__ import annotations

import contextlib
import itertools
from typing import Any

import torch

MAX_ITEMS = 100_000


def materialize(iterable: Any, limit: int = MAX_ITEMS) -> list:
    """All items of an iterable (at most ``limit``), e.g. a student's ``data_iter``."""
    return list(itertools.islice(iter(iterable), limit))


def repr_(obj: Any) -> str:
    """The full ``repr`` (a remote handle's own repr is cut to 200 characters)."""
    return repr(obj)


def length(obj: Any) -> int:
    return len(obj)


def getitem(obj: Any, key: Any) -> Any:
    return obj[key]


def attr_item(obj: Any, name: str, key: Any) -> Any:
    """``getattr(obj, name)[key]``: one row of a large table (GloVe's 400000 vectors) without
    sending the whole attribute to the grader and back."""
    return getattr(obj, name)[key]


def setattr_(obj: Any, name: str, value: Any) -> None:
    setattr(obj, name, value)


def vjp(fn: Any, args: list, wrt: list[int], grad_output: Any = None, kwargs: dict | None = None):
    """Value of ``fn(*args)`` and the gradients of the inputs listed in ``wrt``.

    The inputs in ``wrt`` are made fresh leaves that require grad. A scalar output is
    back-propagated directly, a tensor output with ``grad_output`` (default: ones).
    Returns ``(output, [grad for each wrt index])``; a missing gradient is ``None``.
    """
    args = list(args)
    for i in wrt:
        args[i] = args[i].detach().clone().requires_grad_(True)
    out = fn(*args, **(kwargs or {}))
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"expected the function to return a tensor, got {type(out).__name__}")
    if out.requires_grad:
        if grad_output is None and out.dim() != 0:
            grad_output = torch.ones_like(out)
        out.backward(grad_output)
    return out.detach(), [args[i].grad for i in wrt]


def parameters(module: torch.nn.Module) -> list:
    return [p.detach().clone() for p in module.parameters()]


def named_parameters(module: torch.nn.Module) -> dict:
    return {n: p.detach().clone() for n, p in module.named_parameters()}


def state_dict(module: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def load_state_dict(module: torch.nn.Module, state: dict) -> None:
    module.load_state_dict(state)


def set_mode(module: torch.nn.Module, training: bool) -> None:
    module.train(training)


def num_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def load_tensors(path: str) -> Any:
    """What ``torch.save`` wrote at ``path``, read in the child with the restricted loader
    (tensors and plain containers only), so student files are never unpickled by the grader."""
    return torch.load(path, weights_only=True)


@contextlib.contextmanager
def names_set(spaces: list[dict], names: dict):
    """``names`` set in every namespace of ``spaces`` for the block, then each put back as it
    was (or removed where it was not there before)."""
    missing = object()
    saved = [(ns, {k: ns.get(k, missing) for k in names}) for ns in spaces]
    for ns in spaces:
        ns.update(names)
    try:
        yield
    finally:
        for ns, before in saved:
            for k, v in before.items():
                if v is missing:
                    ns.pop(k, None)
                else:
                    ns[k] = v


def forward_no_grad(module: Any, *args: Any) -> Any:
    with torch.no_grad():
        return module(*args)


def repeat(fn: Any, n: int, args: list | None = None, kwargs: dict | None = None,
           module_names: dict | None = None) -> list:
    """``[fn(*args, **kwargs) for _ in range(n)]`` in one round trip (statistics of a
    random function, e.g. a noisy gradient step drawn many times). ``module_names``: names
    set in the function's module for the calls, then restored (the book's ``sgd_2d`` reads
    ``eta`` from its module)."""
    import inspect
    space = getattr(inspect.unwrap(fn), "__globals__", None) if module_names else None
    if module_names and space is None:
        raise TypeError("module_names needs a plain function")
    with names_set([space] if space is not None else [], module_names or {}):
        return [fn(*(args or []), **(kwargs or {})) for _ in range(int(n))]


def linear_trainer_2d(a1: float, a2: float) -> Any:
    """A trusted 2-D trainer for ``train_2d``-style drivers, returned as a handle so a driver
    can be tested without the student's own trainers. ``(x1, x2, s1, s2, eta=1) -> (eta a1 x1
    + 0.1 s1, eta a2 x2 - 0.1 s2, s1 + 1, s2 + 2)``: the result depends on the state and on the
    keyword hyperparameter, so a driver that drops either is seen."""
    def trainer(x1, x2, s1, s2, eta=1.0):
        return eta * a1 * x1 + 0.1 * s1, eta * a2 * x2 - 0.1 * s2, s1 + 1, s2 + 2
    return trainer


def storage_ptrs(fn: Any, *args: Any) -> list:
    """Call ``fn(*args)`` in the child and return the storage address of every tensor in the
    (nested tuple/list) result, in order: which results share memory. The wire copies each
    returned tensor on its own, so sharing between results is only visible here."""
    out: list = []

    def walk(obj: Any) -> None:
        if isinstance(obj, torch.Tensor):
            out.append(obj.untyped_storage().data_ptr())
        elif isinstance(obj, (tuple, list)):
            for item in obj:
                walk(item)
    walk(fn(*args))
    return out


def optimizer_steps(fn: Any, values: list, states: Any, hyperparams: dict, grads: list) -> tuple:
    """Run a book-style optimizer ``fn(params, states, hyperparams)`` in the child for
    ``len(grads)`` steps with ONE hyperparameter dict, as the book's ``train_ch7`` does, setting
    ``p.grad`` from ``grads[k]`` before step k. Returns ``(params, states, hyperparams)`` after
    the steps, so changes the function makes to the dict (Adam's ``t += 1``) are visible."""
    params = [v.detach().clone().requires_grad_(True) for v in values]
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.detach().clone()
        fn(params, states, hyperparams)
    return [p.detach().clone() for p in params], states, hyperparams


def seed(n: int) -> None:
    """Seed the child's ``random``, ``numpy`` and ``torch`` generators (the grader's are seeded
    per test; the child's are not), so that a test can replay a random choice of the student's
    code in the parent, e.g. ``random.shuffle`` in a sampler."""
    import random

    import numpy as np
    random.seed(n)
    np.random.seed(n)
    torch.manual_seed(n)


class _Returning:
    """A callable that ignores its arguments and returns a fresh deep copy of ``value``."""

    def __init__(self, value: Any):
        self.value = value

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import copy
        return copy.deepcopy(self.value)


def returning(value: Any) -> _Returning:
    """A handle to a callable that returns a copy of ``value`` whatever it is called with:
    known initial parameters for a student's trainer that calls ``get_params(...)``."""
    return _Returning(value)


class _FakeDevice:
    """A stand-in for a device with queued work (chapter 8's Benchmark tests on the CPU):
    each call waits for a time drawn at that moment from the operating system's randomness
    (no seed the student's code could read), so the only way to know how long the device
    took is to wait for it and measure. ``waits`` keeps what each call waited."""

    def __init__(self, low: float, high: float):
        self._range = (float(low), float(high))
        self.waits: list[float] = []

    def __call__(self) -> None:
        import random
        import time
        wait = random.SystemRandom().uniform(*self._range)
        time.sleep(wait)
        self.waits.append(wait)


def fake_device(low: float, high: float) -> _FakeDevice:
    """A handle to a fake device's ``sync``: each call waits between ``low`` and ``high`` s."""
    return _FakeDevice(low, high)


def fake_device_waits(device: _FakeDevice) -> list:
    """What each call of the fake device waited, in order."""
    if not isinstance(device, _FakeDevice):
        raise TypeError("not a fake device")
    return [float(w) for w in device.waits]


def signature_of(fn: Any) -> list[dict]:
    """``fn``'s parameters (name, kind, has_default), so that a grader can call a book-shaped
    function the book's way (``gd_2d(x1, x2, s1, s2)`` reading a global ``eta``) and a
    stub-shaped one the stub's way. Empty when Python cannot tell (a builtin)."""
    import inspect
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    return [{"name": p.name, "kind": p.kind.name, "has_default": p.default is not p.empty}
            for p in params]


#: Helpers of this module that the child uses itself and a grader may not call as probes.
NOT_PROBES = {"names_set"}
PROBES = {name: obj for name, obj in dict(globals()).items()
          if callable(obj) and not name.startswith("_") and name not in NOT_PROBES
          and getattr(obj, "__module__", "") == __name__}

"""What the from-scratch trace sees (``d2lgrade.scratch.trace``), one child per group of cases.

Each case is a function in a throw-away submission module with a policy; a shortcut must
be reported with the op, name or route it used, and honest variants (the many ways students
write softmax, relu, dropout or corr2d, printing a tensor, library layers in a trainer whose
policy allows them) must not be.
"""
import subprocess
import sys
import textwrap

import pytest
import torch

from d2lgrade import ops
from d2lgrade.isolation.handle import Submission
from d2lgrade.scratch.policies import Policy
from d2lgrade.scratch.record import ScratchViolation

MODULE = "ch99_trace.cases"

SHORTCUTS = {
    # name: (source, text the violation must contain)
    "private_softmax": ("return torch._softmax(X, 1, False)", "aten._softmax"),
    "ops_namespace": ("return torch.ops.aten._log_softmax(X, 1, False).exp()", "aten._log_softmax"),
    "variable_functions": ("return torch._C._VariableFunctions.softmax(X, 1)", "aten._softmax"),
    "nn_private": ("return torch._C._nn.leaky_relu(X, 0.0)", "aten.leaky_relu"),
    "leaky_zero": ("return torch.nn.functional.leaky_relu(X, 0.0)", "aten.leaky_relu"),
    "threshold": ("return torch.threshold(X, 0.0, 0.0)", "aten.threshold"),
    "softplus_limit": ("return torch.nn.functional.softplus(X, beta=1e4)", "aten.softplus"),
    "dropout_fn": ("return torch.nn.functional.dropout(X, 0.5)", "torch.nn.functional.dropout"),
    "bernoulli_mask": ("return X * torch.bernoulli(torch.full_like(X, 0.5)) * 2", "aten.bernoulli"),
    "native_dropout": ("return torch.native_dropout(X, 0.5, True)[0]", "aten.native_dropout"),
    "conv": ("return torch.conv2d(X[None, None], X[None, None, :2, :2])[0, 0]", "aten.convolution"),
    "slow_conv": ("return torch._C._nn.thnn_conv2d(X[None, None], X[None, None, :2, :2], [2, 2])[0, 0]",
                  "aten._slow_conv2d_forward"),
    "im2col": ("return torch.nn.functional.unfold(X[None, None], 2)[0]", "aten.im2col"),
    "tensor_unfold": ("return X.unfold(0, 2, 1).sum(-1)", "aten.unfold"),
    "conv_tbc": ("return torch.conv_tbc(X[:, :, None], X[:2, :, None][:, :1], torch.zeros(1))[:, :, 0]",
                 "aten.conv_tbc"),
    "nll": ("return torch._C._nn.nll_loss(X.log_softmax(1), torch.zeros(len(X), dtype=torch.long), None, 0, -100)",
            "aten._log_softmax"),
    "batch_norm": ("return torch.batch_norm(X, None, None, None, None, True, 0.1, 1e-5, False)",
                   "aten.native_batch_norm"),
    "lstsq": ("return torch.linalg.lstsq(X, X).solution", "aten.linalg_lstsq"),
    "numpy": ("return torch.from_numpy(X.numpy() * 2)", "NumPy/Python"),
    "array": ("import numpy as np\n    return torch.as_tensor(np.asarray(X) * 2)", "NumPy/Python"),
    "tolist": ("return torch.tensor(X.tolist())", "NumPy/Python"),
    "dlpack": ("import numpy as np\n    return torch.as_tensor(np.from_dlpack(X) * 2)", "NumPy/Python"),
    "import_at_call": ("import importlib\n    importlib.import_module('sci' + 'py.special')\n    return X",
                       "the module scipy"),
    "thread": ("import threading\n    t = threading.Thread(target=lambda: None)\n    t.start()\n    t.join()\n"
               "    return X", "started a thread"),
    "fork": ("import os\n    pid = os.fork()\n    if pid == 0:\n        os._exit(0)\n    os.waitpid(pid, 0)\n"
             "    return X", "os.fork"),
    "disable_dispatch": ("with torch._C._DisableTorchDispatch():\n        return torch.softmax(X, 1)",
                         "_DisableTorchDispatch"),
    "disable_function": ("with torch._C.DisableTorchFunction():\n        return X * 2", "DisableTorchFunction"),
    "pop_dispatch": ("from torch.utils._python_dispatch import _pop_mode_temporarily\n"
                     "    with _pop_mode_temporarily():\n        return torch.softmax(X, 1)", "_pop_mode_temporarily"),
    "asks_for_trace": ("return X if torch._C._is_torch_function_mode_enabled() else X", "looking for the grader"),
    "gettrace": ("import sys\n    sys.gettrace()\n    return X", "looking for the grader"),
    "setprofile": ("import sys\n    sys.setprofile(None)\n    return X", "sys.setprofile"),
    "frames": ("import sys\n    sys._getframe(1)\n    return X", "sys._getframe"),
    "traceback_frames": ("try:\n        raise ValueError\n    except ValueError as e:\n"
                         "        e.__traceback__.tb_frame\n    return X", "tb_frame"),
    "gc": ("import gc\n    gc.get_objects()\n    return X", "gc.get_objects"),
    "ctypes": ("import ctypes\n    ctypes.c_double.from_address(ctypes.addressof(ctypes.c_double(1.0)))\n"
               "    return X", "ctypes"),
    "compiled": ("return torch.compile(lambda Z: torch.softmax(Z, 1), backend='eager')(X)", "aten._softmax"),
    "scripted": ("return torch.jit.script(_scripted_softmax)(X)", "aten._softmax"),
    "subclass": ("class Lazy(torch.Tensor):\n        pass\n    return X.clone().as_subclass(Lazy)",
                 "must return plain tensors"),
    "lambda_def": (None, "not a def statement"),
    "library_alias": (None, "a library function"),
    "decorated": (None, "_decorate.<locals>.inner"),
}

HONEST = {
    "softmax_max": "E = (X - X.max(dim=1, keepdim=True).values).exp()\n    return E / E.sum(1, keepdim=True)",
    "softmax_amax": "E = torch.exp(X - torch.amax(X, 1, keepdim=True))\n    return E / torch.sum(E, dim=1).view(-1, 1)",
    "relu_clamp": "return X.clamp(min=0)",
    "relu_where": "return torch.where(X > 0, X, torch.zeros_like(X))",
    "relu_mask": "return X * (X > 0)",
    "relu_max": "return torch.max(input=X, other=torch.tensor(0.0))",
    "relu_abs": "return (X + X.abs()) / 2",
    "dropout_rand_like": "return (torch.rand_like(X) > 0.5).float() * X / 0.5",
    "dropout_uniform": "return (torch.empty_like(X).uniform_() < 0.5).to(X.dtype) * X * 2",
    "corr2d_loop": ("h, w = 2, 2\n    Y = torch.zeros(X.shape[0] - 1, X.shape[1] - 1)\n"
                    "    for i in range(Y.shape[0]):\n        for j in range(Y.shape[1]):\n"
                    "            Y[i, j] = (X[i:i + h, j:j + w] * X[:h, :w]).sum()\n    return Y"),
    "corr2d_stack": ("return torch.stack([torch.stack([torch.dot(X[i:i + 2, j:j + 2].flatten(), X[:2, :2].flatten())\n"
                     "        for j in range(X.shape[1] - 1)]) for i in range(X.shape[0] - 1)])"),
    "gradient_inside": ("Z = X.detach().clone().requires_grad_(True)\n    ((Z - Z.max()) ** 2).sum().backward()\n"
                        "    return Z.grad"),
    "prints": "print(X)\n    print(f'{X.sum():.3f}', repr(X), X.shape)\n    return X * 1",
    "item_and_math": "import math\n    return torch.tensor([[math.exp(X[i, j].item()) for j in range(X.shape[1])] for i in range(X.shape[0])])",
}

#: Definitions the loaded-definition check reads (module ``ch99_trace.defs``), and one that
#: swaps a code object at import (``ch99_trace.swap``: that is tampering with everything).
DEFS = '''
import torch

lambda_def = lambda X: X * 2                  # noqa: E731

from torch.nn.functional import softmax as library_alias  # noqa: E402


def _decorate(fn):
    import torch.nn.functional as F
    def inner(X):
        return F.softmax(X, dim=1)
    return inner


@_decorate
def decorated(X):
    return X * 2
'''
SWAP = '''
import torch


def code_swap(X):
    return X * 2


code_swap.__code__ = (lambda X: torch.softmax(X, 1)).__code__
'''
HOME = {"lambda_def": "ch99_trace.defs", "library_alias": "ch99_trace.defs", "decorated": "ch99_trace.defs"}


def _module_source() -> str:
    parts = ["import torch\n\n\ndef _scripted_softmax(x):\n    return torch.softmax(x, 1)\n"]
    for name, (body, _) in SHORTCUTS.items():
        if body is not None:
            parts.append(f"\ndef {name}(X):\n    {body}\n")
    for name, body in HONEST.items():
        parts.append(f"\ndef {name}(X):\n    {body}\n")
    return "".join(parts)


def _policies(names):
    return [Policy(HOME.get(n, MODULE), n, allow=ops.ELEMENTARY, names=("softmax", "dropout", "relu", "leaky_relu"))
            for n in names]


@pytest.fixture(scope="module", params=["process", "none"])
def traced(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("trace")
    pkg = root / "ch99_trace"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "cases.py").write_text(_module_source())
    (pkg / "defs.py").write_text(DEFS)
    sub = Submission(str(root), request.param)
    sub.set_policies(_policies([*SHORTCUTS, *HONEST]))
    yield sub
    sub.close()


def _x():
    return torch.rand(4, 5) + 0.1


@pytest.mark.parametrize("name", sorted(SHORTCUTS))
def test_shortcut_is_reported(traced, name):
    with pytest.raises(ScratchViolation) as info:
        getattr(traced.module(HOME.get(name, MODULE)), name)(_x())
    assert SHORTCUTS[name][1] in str(info.value), str(info.value)
    assert name in str(info.value)


@pytest.mark.parametrize("name", sorted(HONEST))
def test_honest_code_is_not_reported(traced, name):
    getattr(traced.module(MODULE), name)(_x())
    assert f"{MODULE}.{name}" not in traced.scratch.violations


def test_code_swap_at_import_is_tampering_with_everything(tmp_path):
    """``f.__code__ = ...`` in the submission: every graded function loses its credit."""
    pkg = tmp_path / "ch99_trace"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "swap.py").write_text(SWAP)
    (pkg / "cases.py").write_text("import torch\nfrom . import swap\n\ndef honest(X):\n    return X * 2\n")
    sub = Submission(str(tmp_path), "process")
    sub.set_policies([Policy("ch99_trace.swap", "code_swap", allow=ops.ELEMENTARY),
                      Policy(MODULE, "honest", allow=ops.ELEMENTARY)])
    try:
        with pytest.raises(ScratchViolation, match="replaced a function's __code__"):
            sub.module(MODULE).honest(_x())
    finally:
        sub.close()


def test_install_changes_no_flag_of_torch():
    """The patches replace functions by identity: no module constant (``False``) may change."""
    script = textwrap.dedent("""
        import sys, torch
        def flags():
            return {(n, k): v for n, m in list(sys.modules.items()) if n.startswith("torch") and m
                    for k, v in list(getattr(m, "__dict__", {}).items()) if isinstance(v, (bool, int, str))}
        before = flags()
        from d2lgrade.scratch import trace as optrace
        optrace.install("/nonexistent", [])
        after = flags()
        changed = [k for k in before if k in after and after[k] is not before[k] and after[k] != before[k]]
        print("CHANGED", changed[:5])
        torch.manual_seed(1)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "CHANGED []" in out.stdout, out.stdout


def test_trainer_policy_allows_library_layers(tmp_path):
    """A deny-list policy (a training loop) lets nn layers and autograd run; only its families are out."""
    pkg = tmp_path / "ch99_trace"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "cases.py").write_text(textwrap.dedent("""
        import torch
        from torch import nn

        def trainer(X):
            net = nn.Sequential(nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 2))
            opt = torch.optim.SGD(net.parameters(), lr=0.1, foreach=False)
            for _ in range(3):
                opt.zero_grad()
                net(X).pow(2).mean().backward()
                opt.step()
            return net(X).detach()

        def trainer_solver(X):
            return torch.linalg.pinv(X)
    """))
    sub = Submission(str(tmp_path), "process")
    sub.set_policies([Policy(MODULE, n, deny=ops.SOLVERS) for n in ("trainer", "trainer_solver")])
    try:
        sub.module(MODULE).trainer(_x())
        with pytest.raises(ScratchViolation, match="aten.linalg_pinv"):
            sub.module(MODULE).trainer_solver(_x())
    finally:
        sub.close()

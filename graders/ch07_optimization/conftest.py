"""Shared fixtures of the chapter-7 graders (trusted; they run in the grading process).

* ``airfoil_path``: an airfoil-format file the project writes itself
  (``fixtures/generated/airfoil/airfoil_self_noise.dat``): 1503 rows, 5 feature columns and
  the target, tab-separated, like UCI's ``airfoil_self_noise.dat``. Columns take the real
  file's kinds of values (frequencies in Hz, angle, chord, velocity, thickness); the target
  is a noisy function of them that a linear model fits to a standardised half loss near 0.24 (the real data: about 0.243).
* ``airfoil``: ``(features, labels)`` of that file, standardised by the reference loader.
* ``real_airfoil``: the same from ``$D2L_DATA_DIR/airfoil_self_noise.dat`` (data tier).
* ``run_optimizer``: drive a student update function ``fn(params, states, hyperparams)`` over a
  sequence of given gradients, one call per step; returns ``(params, states)`` afterwards.
* ``fit_with``: linear regression on the airfoil fixture with gradients computed here and the
  student's update function taking each step (the book's ``train_ch7`` loop, trusted).
* ``trace_2d``: the book's ``train_2d`` driver run here around a student 2-D trainer.
* ``ch7.book_way(fn)``: ``fn`` called with the hyperparameters it takes as keywords; the
  book's forms (7.2-7.6: ``gd_2d(x1, x2, s1, s2)`` reads ``eta`` and ``gamma`` from its
  module) get the others as module-level names for the call (``with_globals``).
* ``ch7.init_states(fn, n)``: ``init_*_states(n)``, or the book's ``init_*_states()``, which
  reads the module-level ``features`` (only its number of columns matters).
"""
import numpy as np
import pytest
import torch

from d2lgrade import GradeFailure, reference, with_globals

FREQUENCIES = [200, 250, 315, 400, 500, 630, 800, 1000, 1250, 1600, 2000, 2500, 3150, 4000,
               5000, 6300, 8000, 10000, 12500, 16000, 20000]


def write_airfoil_like(path, n=1503, seed=1503):
    """Write an airfoil-format table (deterministic); return the path."""
    rng = np.random.default_rng(seed)
    freq = rng.choice(FREQUENCIES, n)
    angle = rng.choice(np.round(np.linspace(0, 22.2, 28), 1), n)
    chord = rng.choice([0.0254, 0.0508, 0.1016, 0.1524, 0.2286, 0.3048], n)
    velocity = rng.choice([31.7, 39.6, 55.5, 71.3], n)
    thickness = np.round(0.0004 + 0.002 * chord / 0.3048 * (1 + angle) * rng.lognormal(0, 0.3, n), 8)
    target = (132.0 - 4.5 * np.log(freq / 1000.0) ** 2 - 1.2 * np.log(freq / 1000.0)
              - 0.25 * angle - 25.0 * chord + 0.07 * velocity - 180.0 * thickness
              + rng.normal(0, 12.0, n))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for row in zip(freq, angle, chord, velocity, thickness, np.round(target, 3)):
            f.write("\t".join("%g" % v for v in row) + "\n")
    return path


@pytest.fixture(scope="session")
def airfoil_path(course):
    path = course.fixtures / "generated" / "airfoil" / "airfoil_self_noise.dat"
    if not path.exists():
        write_airfoil_like(path)
    return path


@pytest.fixture(scope="session")
def airfoil(airfoil_path):
    return reference("ch07_optimization.minibatch_sgd").get_data_ch7(str(airfoil_path))


@pytest.fixture
def real_airfoil_path(data_dir):
    path = data_dir / "airfoil_self_noise.dat"
    if not path.exists():
        pytest.skip(f"data tier not run: {path} does not exist")
    return path


def _leaves(values):
    return [v.clone().requires_grad_(True) for v in values]


@pytest.fixture
def run_optimizer():
    def run(fn, states, hyperparams, values, grads, what):
        """``hyperparams`` is a dict or a function of the step number (from 1) giving one."""
        __tracebackhide__ = True
        params = _leaves(values)
        for k, step_grads in enumerate(grads, start=1):
            for p, g in zip(params, step_grads):
                p.grad = g.clone()
            hp = hyperparams(k) if callable(hyperparams) else dict(hyperparams)
            fn(params, states, hp)
            for i, p in enumerate(params):
                if not (isinstance(p, torch.Tensor) and p.is_leaf and p.requires_grad):
                    raise GradeFailure(f"{what}: parameter {i} must stay a leaf tensor that requires grad")
        return [p.detach() for p in params], states
    return run


def torch_optimizer_run(cls, values, grads, **kwargs):
    """The same steps with a ``torch.optim`` optimizer (trusted, here)."""
    params = _leaves(values)
    opt = cls(params, **kwargs)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.clone()
        opt.step()
    return [p.detach() for p in params], opt


def random_problem(num_features=5, steps=6, low=0.5, high=1.5):
    """``(values, grads)`` for w (d, 1) and b (1,): gradients with magnitudes in [low, high]."""
    values = [torch.randn(num_features, 1), torch.randn(1)]

    def grad(shape):
        sign = torch.randint(0, 2, shape).float() * 2 - 1
        return sign * (low + (high - low) * torch.rand(shape))
    grads = [[grad((num_features, 1)), grad((1,))] for _ in range(steps)]
    return values, grads


def fit_linear(fn, states, hyperparams, features, labels, *, batch_size=10, num_epochs=1):
    """The book's train_ch7 loop with an update function ``fn``; returns the final half MSE."""
    w = torch.normal(0.0, 0.01, size=(features.shape[1], 1)).requires_grad_(True)
    b = torch.zeros(1, requires_grad=True)
    hp = dict(hyperparams)
    for _ in range(num_epochs):
        for idx in torch.randperm(len(features)).split(batch_size):
            X, y = features[idx], labels[idx]
            w.grad = b.grad = None
            loss = ((X @ w + b - y.view(-1, 1)) ** 2 / 2).mean()
            loss.backward()
            fn([w, b], states, dict(hp))
            if "t" in hp:
                hp["t"] += 1  # the book's Adam counts steps in the caller's dict
    with torch.no_grad():
        return ((features @ w + b - labels.view(-1, 1)) ** 2 / 2).mean().item()


@pytest.fixture
def fit_with(airfoil):
    def run(fn, states, hyperparams, *, batch_size=10, num_epochs=1):
        return fit_linear(fn, states, hyperparams, *airfoil, batch_size=batch_size, num_epochs=num_epochs)
    return run


@pytest.fixture
def trace_2d():
    def run(trainer, steps=20, **hyperparams):
        """``[(x1, x2), ...]`` from (-5, -2) with the student's trainer, state passed along."""
        __tracebackhide__ = True
        x1, x2, s1, s2 = -5, -2, 0, 0
        points = [(x1, x2)]
        step = book_way(trainer)
        for _ in range(steps):
            out = step(x1, x2, s1, s2, **hyperparams)
            if not (isinstance(out, (tuple, list)) and len(out) == 4):
                raise GradeFailure(f"a 2-D trainer must return (x1, x2, s1, s2), got {out!r:.80}")
            x1, x2, s1, s2 = (float(v) for v in out)
            points.append((x1, x2))
        return points
    return run


def parameters(fn) -> tuple[set, bool]:
    """(parameter names, takes ``**kwargs``) of a student function handle, in the child."""
    sig = fn.signature() if hasattr(fn, "signature") else fn._sub.probe("signature_of", fn)
    return {p["name"] for p in sig}, any(p["kind"] == "VAR_KEYWORD" for p in sig)


def book_way(fn):
    """``call(*args, **hyperparams)`` for a student function (its signature read once)."""
    names, var_kw = parameters(fn)

    def call(*args, **hyper):
        __tracebackhide__ = True
        missing = {} if var_kw else {k: v for k, v in hyper.items() if k not in names}
        given = {k: v for k, v in hyper.items() if k not in missing}
        if not missing:
            return fn(*args, **given)
        return with_globals(fn, **missing)(*args, **given)
    call.missing = lambda *keys: [k for k in keys if not var_kw and k not in names]
    return call


def init_states(fn, n=None):
    """``fn()`` / ``fn(n)``; the book's ``init_*_states()`` reads ``features.shape[1]``."""
    __tracebackhide__ = True
    if parameters(fn)[0]:
        return fn() if n is None else fn(n)
    return with_globals(fn, features=torch.zeros(1, 5 if n is None else n))()


def line(points):
    """The book's last line of ``train_2d``."""
    return "epoch %d, x1 %f, x2 %f" % (len(points) - 1, *points[-1])


@pytest.fixture(scope="session")
def ch7():
    """Plain helpers for the test modules (conftest is not importable under importlib mode)."""
    from types import SimpleNamespace
    return SimpleNamespace(line=line, torch_optimizer_run=torch_optimizer_run,
                           random_problem=random_problem, book_way=book_way,
                           init_states=init_states, parameters=parameters)

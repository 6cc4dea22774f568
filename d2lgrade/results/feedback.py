"""What a grader attaches to its test's result for the student: text lines, plots, images.

The ``feedback`` fixture returns a ``Feedback`` bound to the running test::

    feedback("test accuracy after 5 epochs: 0.931")            # a line of the test's output
    feedback.plot("Loss per epoch", {"your train loss": train_ls, "your test loss": test_ls},
                  reference={"reference train loss": ref_train_ls},
                  xlabel="epoch", ylabel="MSE", logy=True)
    feedback.trajectory("Gradient descent on f(x1, x2)", {"your path": [(x1, x2), ...]},
                        reference={"reference path": ref_path},
                        contour=lambda x1, x2: 0.1 * x1 ** 2 + 2 * x2 ** 2)
    feedback.images("Your augmentation", images, labels=["flip", "crop", ...])

Everything here runs in the trusted grading process. Attachments are stored as plain JSON
data on the test's ``TestResult.attachments`` (never pickled objects); the HTML feedback
page (``d2lgrade.results.page``) draws them after grading, with matplotlib's Agg backend.
Values that came from the student are converted to floats, non-finite ones become gaps, and
sizes are capped, so a hostile result cannot blow up the report.

Visibility: series passed as ``reference=`` (a mapping, or a function returning one, which
is then called only for public tests) are recorded only for public tests. In a hidden
or after-due-date test they are dropped at once (they would show expected values) and the
page says that a reference exists but is not shown.
"""
from __future__ import annotations

import base64
import math
from typing import Any, Callable, Iterable, Mapping, Sequence

MAX_ATTACHMENTS = 6      # per test
MAX_SERIES = 8           # per plot
MAX_POINTS = 1000        # per series (longer ones are subsampled evenly, the last point kept)
MAX_IMAGES = 16          # per images attachment
MAX_IMAGE_SIDE = 256     # larger images are shrunk by striding
GRID = 60                # contour grid of a trajectory plot


class Feedback:
    """``feedback(text)`` plus ``plot``, ``trajectory`` and ``images`` (see the module doc)."""

    def __init__(self, lines: list, attachments: list, *, public: bool) -> None:
        self._lines = lines
        self._attachments = attachments
        self.public = public

    def __call__(self, text: str) -> None:
        self._lines.append(str(text))

    # -- attachments --------------------------------------------------------------------
    def plot(self, title: str, series: Mapping[str, Any], *, reference: Mapping[str, Any] | None = None,
             xlabel: str = "", ylabel: str = "", logy: bool = False) -> None:
        """Line plot. Each series is a sequence of y values (x = 1, 2, ...) or a pair (x, y)."""
        out = [dict(label=str(k), reference=False, **_xy(v)) for k, v in series.items()]
        hidden_ref = False
        if callable(reference):  # computed only where it may be shown
            reference = reference() if self.public else {"": None}
        if reference:
            if self.public:
                out += [dict(label=str(k), reference=True, **_xy(v)) for k, v in reference.items()]
            else:
                hidden_ref = True
        self._add({"type": "plot", "title": str(title), "xlabel": str(xlabel),
                   "ylabel": str(ylabel), "logy": bool(logy), "series": out[:MAX_SERIES],
                   "reference_hidden": hidden_ref})

    def trajectory(self, title: str, paths: Mapping[str, Any], *,
                   reference: Mapping[str, Any] | None = None,
                   contour: Callable | None = None,
                   xlim: Sequence[float] | None = None, ylim: Sequence[float] | None = None,
                   xlabel: str = "x1", ylabel: str = "x2") -> None:
        """2-D paths (sequences of (x1, x2) points), optionally over the contours of ``contour``.

        ``contour`` is a trusted function f(x1, x2) (numpy arrays in, array out; torch
        tensors are tried when numpy fails), evaluated here on a grid.
        """
        out = [dict(label=str(k), reference=False, **_path(v)) for k, v in paths.items()]
        hidden_ref = False
        if callable(reference):  # computed only where it may be shown
            reference = reference() if self.public else {"": None}
        if reference:
            if self.public:
                out += [dict(label=str(k), reference=True, **_path(v)) for k, v in reference.items()]
            else:
                hidden_ref = True
        xs = [x for s in out for x in s["x"] if x is not None]
        ys = [y for s in out for y in s["y"] if y is not None]
        xlim = _limits(xlim, xs)
        ylim = _limits(ylim, ys)
        grid = None
        if contour is not None:
            grid = _grid(contour, xlim, ylim)
        self._add({"type": "trajectory", "title": str(title), "xlabel": str(xlabel),
                   "ylabel": str(ylabel), "series": out[:MAX_SERIES], "xlim": xlim,
                   "ylim": ylim, "contour": grid, "reference_hidden": hidden_ref})

    def images(self, title: str, images: Any, *, labels: Sequence[str] | None = None) -> None:
        """A row of images: a tensor/array (N, C, H, W), (N, H, W) or a list of (C, H, W),
        (H, W, C) or (H, W) images; floats in [0, 1] or integers in [0, 255]."""
        items = _image_list(images)[:MAX_IMAGES]
        labels = list(labels or [])
        out = []
        for i, img in enumerate(items):
            h, w, c, data = _to_uint8_hwc(img)
            out.append({"label": str(labels[i]) if i < len(labels) else "", "shape": [h, w, c],
                        "data": base64.b64encode(data).decode("ascii")})
        self._add({"type": "images", "title": str(title), "images": out})

    def _add(self, item: dict) -> None:
        if len(self._attachments) >= MAX_ATTACHMENTS:
            raise ValueError(f"at most {MAX_ATTACHMENTS} feedback attachments per test")
        self._attachments.append(item)


# -- conversion of (possibly student-made) values to plain data ------------------------------
def _numbers(values: Any) -> list:
    if hasattr(values, "detach"):          # a torch tensor
        values = values.detach().cpu().reshape(-1).tolist()
    elif hasattr(values, "tolist"):        # a numpy array
        values = values.reshape(-1).tolist()
    try:
        values = list(values)[:100_000]
    except TypeError:       # not a sequence (a student's None, say): an empty series
        values = []
    out = []
    for v in values:
        try:
            f = float(v)
        except Exception:   # whatever a student's value does on float(), it is a gap
            f = math.nan
        out.append(f if math.isfinite(f) else None)
    return out


def _subsample(xs: list, ys: list) -> tuple[list, list]:
    n = len(ys)
    if n <= MAX_POINTS:
        return xs, ys
    idx = sorted({round(i * (n - 1) / (MAX_POINTS - 1)) for i in range(MAX_POINTS)})
    return [xs[i] for i in idx], [ys[i] for i in idx]


def _xy(v: Any) -> dict:
    if isinstance(v, tuple) and len(v) == 2:
        xs, ys = _numbers(v[0]), _numbers(v[1])
        n = min(len(xs), len(ys))
        xs, ys = xs[:n], ys[:n]
    else:
        ys = _numbers(v)
        xs = [float(i) for i in range(1, len(ys) + 1)]
    xs, ys = _subsample(xs, ys)
    return {"x": xs, "y": ys}


def _path(v: Any) -> dict:
    if hasattr(v, "detach"):
        v = v.detach().cpu().tolist()
    elif hasattr(v, "tolist"):
        v = v.tolist()
    xs, ys = [], []
    for point in list(v)[:100_000]:
        try:
            a, b = point
        except (TypeError, ValueError):
            a = b = None
        xs += _numbers([a if a is not None else math.nan])
        ys += _numbers([b if b is not None else math.nan])
    xs, ys = _subsample(xs, ys)
    return {"x": xs, "y": ys}


def _limits(given: Sequence[float] | None, values: list) -> list:
    if given is not None:
        return [float(given[0]), float(given[1])]
    if not values:
        return [-1.0, 1.0]
    lo, hi = min(values), max(values)
    pad = 0.1 * (hi - lo) or 1.0
    return [lo - pad, hi + pad]


def _grid(f: Callable, xlim: list, ylim: list) -> dict | None:
    import numpy as np
    gx = np.linspace(xlim[0], xlim[1], GRID)
    gy = np.linspace(ylim[0], ylim[1], GRID)
    X1, X2 = np.meshgrid(gx, gy)
    try:
        Z = np.asarray(f(X1, X2), dtype=float)
    except Exception:
        import torch
        Z = f(torch.from_numpy(X1), torch.from_numpy(X2)).detach().cpu().numpy().astype(float)
    Z = np.where(np.isfinite(Z), Z, np.nan)
    return {"x": gx.tolist(), "y": gy.tolist(),
            "z": [[None if math.isnan(z) else round(float(z), 6) for z in row] for row in Z]}


def _image_list(images: Any) -> list:
    if hasattr(images, "detach"):
        images = images.detach().cpu().numpy()
    import numpy as np
    if isinstance(images, np.ndarray):
        if images.ndim == 4 or (images.ndim == 3 and images.shape[0] not in (1, 3)
                                and images.shape[-1] not in (1, 3)):
            return list(images)        # a batch (N, C, H, W) / (N, H, W) / (N, H, W, C)
        return [images]
    return list(images)


def _to_uint8_hwc(img: Any) -> tuple[int, int, int, bytes]:
    import numpy as np
    if hasattr(img, "detach"):
        img = img.detach().cpu().numpy()
    elif not isinstance(img, np.ndarray):
        img = np.asarray(img)          # a PIL image or nested lists
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[:, :, None]
    elif a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = np.transpose(a, (1, 2, 0))  # CHW -> HWC
    if a.ndim != 3 or a.shape[-1] not in (1, 3, 4):
        raise ValueError(f"feedback.images: cannot show an image of shape {tuple(a.shape)}")
    a = a[:, :, :3]
    step = max(1, math.ceil(max(a.shape[0], a.shape[1]) / MAX_IMAGE_SIDE))
    a = a[::step, ::step]
    if a.dtype.kind == "f":
        a = np.nan_to_num(a.astype(np.float64))
        scale = 255.0 if a.max(initial=0) <= 1.5 else 1.0
        a = np.clip(a * scale, 0, 255).round()
    a = np.clip(a, 0, 255).astype(np.uint8)
    h, w, c = a.shape
    return h, w, c, np.ascontiguousarray(a).tobytes()


def decode_image(item: Mapping) -> "Any":
    """The uint8 (H, W, C) array of one stored image."""
    import numpy as np
    h, w, c = item["shape"]
    return np.frombuffer(base64.b64decode(item["data"]), dtype=np.uint8).reshape(h, w, c)


def iter_attachments(results: Iterable) -> Iterable[tuple[Any, dict]]:
    for r in results:
        for a in getattr(r, "attachments", None) or []:
            yield r, a

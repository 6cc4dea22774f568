"""Stand-ins for the student's objects in the grading process: modules, functions, objects, and calls the book's way."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from d2lgrade.errors import (
    StaleHandle,
)
from d2lgrade.isolation.transport import Trace

if TYPE_CHECKING:  # annotations only: the handle creates these objects
    from d2lgrade.isolation.handle import Submission


class RemoteObject:
    """A student object that stays in the child: call it, read attributes, pass it back."""

    __slots__ = ("_sub", "_id", "_generation", "_type", "_repr", "_callable")

    def __init__(self, sub: Submission, ref_id: int, generation: int, type_name: str,
                 text: str, is_callable: bool):
        object.__setattr__(self, "_sub", sub)
        object.__setattr__(self, "_id", ref_id)
        object.__setattr__(self, "_generation", generation)
        object.__setattr__(self, "_type", type_name)
        object.__setattr__(self, "_repr", text)
        object.__setattr__(self, "_callable", is_callable)

    def _check_generation(self) -> None:
        if self._generation != self._sub.generation:
            raise StaleHandle(f"this {self._type} came from an earlier run of the submission, "
                              "which was restarted after a crash, exit or timeout")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        self._check_generation()
        return self._sub.getattr({"ref": self._id}, name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._check_generation()
        self._sub.probe("setattr_", self, name, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True  # pytest shows the student's frames, not ours
        self._check_generation()
        return self._sub.call({"ref": self._id}, args, kwargs)

    def __iter__(self):
        self._check_generation()
        return iter(self._sub.probe("materialize", self))

    def __getitem__(self, key: Any) -> Any:
        self._check_generation()
        return self._sub.probe("getitem", self, key)

    def __repr__(self) -> str:
        return f"<remote {self._type}: {self._repr}>"

    @property
    def remote_type(self) -> str:
        return self._type


class RemoteModule:
    """A student module by name; attributes are resolved lazily in the current child."""

    def __init__(self, sub: Submission, name: str):
        self._sub = sub
        self._name = name

    def __getattr__(self, attr: str) -> "RemoteFunction":
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return RemoteFunction(self._sub, self._name, attr)

    @property
    def submission(self) -> Submission:
        return self._sub

    def __repr__(self) -> str:
        return f"<student module {self._name}>"


class RemoteFunction:
    """``module.attr`` in the child, looked up at call time (one round trip per call)."""

    def __init__(self, sub: Submission, module: str, attr: str):
        self.sub, self.module, self.attr = sub, module, attr

    @property
    def target(self) -> dict:
        return {"module": self.module, "attr": self.attr}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True  # pytest shows the student's frames, not ours
        return self.sub.call(self.target, args, kwargs)

    def traced(self, *args: Any, **kwargs: Any) -> tuple[Any, Trace]:
        """Call and also report which torch/library functions the call reached."""
        return self.sub.call(self.target, args, kwargs, trace=True)

    def value(self) -> Any:
        """The attribute itself (a constant, or a handle to a function or class)."""
        return self.sub.getattr({"module": self.module}, self.attr)

    def with_globals(self, *names_in: str, **names: Any) -> "BookCall":
        """This function called the book's way: ``student.gd_2d.with_globals(eta=0.1)(x1, x2,
        s1, s2)`` sets the module-level ``eta`` in the student's module for that call only.
        ``names_in``: further student modules that get the names too (a trainer in one module
        calling an update function of another)."""
        return BookCall(self.sub, self.target, names, names_in)

    def signature(self) -> list[dict]:
        """The function's parameters in the child: ``[{"name", "kind", "has_default"}]``
        (``kind`` as ``inspect.Parameter.kind.name``), to tell the book's signature from the
        stub's."""
        return self.sub.probe("signature_of", self.value())

    def __repr__(self) -> str:
        return f"<student {self.module}.{self.attr}>"


class BookCall:
    """A student function with module-level names set around each call (``with_globals``)."""

    def __init__(self, sub: Submission, target: dict, names: dict, names_in: tuple = ()):
        self.sub, self.target, self.names, self.names_in = sub, target, dict(names), tuple(names_in)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True  # pytest shows the student's frames, not ours
        return self.sub.call(self.target, args, kwargs, names=self.names, names_in=self.names_in)

    def traced(self, *args: Any, **kwargs: Any) -> tuple[Any, Trace]:
        return self.sub.call(self.target, args, kwargs, trace=True, names=self.names,
                             names_in=self.names_in)

    def __repr__(self) -> str:
        return f"<book call {self.target} with {sorted(self.names)}>"


def with_globals(fn: "RemoteFunction | RemoteObject", *names_in: str, **names: Any) -> BookCall:
    """``fn.with_globals(...)`` for any handle, also one from ``.value()`` (a RemoteObject,
    whose own attributes belong to the student)."""
    if isinstance(fn, RemoteFunction):
        return fn.with_globals(*names_in, **names)
    if isinstance(fn, RemoteObject):
        fn._check_generation()
        return BookCall(fn._sub, {"ref": fn._id}, names, names_in)

"""D2L 2.2 (数据操作): broadcasting, in-place updates and memory sharing."""
import torch


def broadcast_add(x, y):
    """Element-wise ``x + y`` with broadcasting; a new tensor of the promoted dtype.

    Shapes follow the broadcasting rules: ``(1, 2)`` and ``(3, 1)`` give ``(3, 2)``; the
    book's example ``arange(1, 3).view(1, 2) + arange(1, 4).view(3, 1)`` is
    ``[[2, 3], [3, 4], [4, 5]]``. Integer inputs stay integer. Neither input is modified.
    """
    # BEGIN SOLUTION
    return x + y
    # END SOLUTION


def add_in_place(y, x):
    """Add ``x`` into ``y`` without allocating a new result, and return ``y`` itself.

    After the call ``y`` holds ``y + x`` and the returned object is ``y`` (the book checks
    this with ``id(y)``: ``y[:] = y + x``, ``y += x`` and ``y.add_(x)`` keep the memory,
    ``y = y + x`` does not). ``x`` must broadcast to ``y``'s shape.
    """
    # BEGIN SOLUTION
    y.add_(x)
    return y
    # END SOLUTION


def flatten_view(x):
    """A 1-D view of a contiguous tensor ``x`` that shares its memory.

    ``(5, 3)`` gives ``(15,)``; writing to ``x`` afterwards is visible through the view
    (D2L 2.2: ``view`` changes the shape, not the data).
    """
    # BEGIN SOLUTION
    return x.view(-1)
    # END SOLUTION


def flat_copy(x):
    """A 1-D copy of ``x`` that shares no memory with it.

    Later changes to ``x`` must not show in the copy. The book recommends
    ``clone().view(-1)``; ``reshape`` is not enough, since it returns a view when it can.
    """
    # BEGIN SOLUTION
    return x.clone().view(-1)
    # END SOLUTION

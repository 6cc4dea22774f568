"""D2L 8.3 (自动并行计算) and 8.4 (多GPU计算): data parallelism and the ``module.`` prefix.

Data parallelism splits a minibatch across devices, runs a replica of the model on each
shard, and sums the replicas' gradients ("all-reduce") so that every replica takes the same
step as one model on the whole batch. The functions below take any list of devices, so they
work (and are graded) on ``[cpu, cpu, cpu]`` as well as on several GPUs.

``nn.DataParallel`` keeps the model as its attribute ``module``, so the keys of its
``state_dict`` start with ``module.`` and do not load into the plain model (the book's
``Missing key(s) ... Unexpected key(s) "module.weight"`` error). Save ``net.module``'s
state, or strip the prefix when loading.
"""
import copy
from collections import OrderedDict

import torch
from torch import nn

PREFIX = 'module.'


def split_batch(X, y, devices):
    """Split a minibatch ``(X, y)`` along dimension 0 into ``len(devices)`` shards, the i-th
    moved to ``devices[i]``. Shard sizes differ by at most one, the larger ones first (10
    examples on 3 devices: 4, 3, 3; as ``torch.tensor_split``); every example goes to exactly
    one shard, in order, and ``X`` rows stay with their labels. Returns two lists
    ``(X_shards, y_shards)``.
    """
    # BEGIN SOLUTION
    k = len(devices)
    X_shards = [x.to(d) for x, d in zip(torch.tensor_split(X, k), devices)]
    y_shards = [t.to(d) for t, d in zip(torch.tensor_split(y, k), devices)]
    return X_shards, y_shards
    # END SOLUTION


def allreduce(data):
    """Sum a list of same-shaped tensors (one per device) and write the sum into every one of
    them, in place (each keeps its own device). Returns nothing."""
    # BEGIN SOLUTION
    total = data[0].detach().clone()
    for t in data[1:]:
        total += t.detach().to(total.device)
    for t in data:
        t.copy_(total.to(t.device))
    # END SOLUTION


def data_parallel_grads(net, X, y, loss, devices):
    """Gradients of one data-parallel step, as a list of tensors (one per parameter of
    ``net``, in ``net.parameters()`` order, on ``devices[0]``).

    Make one replica of ``net`` per device (``copy.deepcopy(net).to(device)``), split the
    batch with ``split_batch``, compute ``loss(replica(X_i), y_i)`` on each shard (``loss``
    reduces with a **sum** over the examples) and back-propagate, then ``allreduce`` the
    replicas' gradients. The result equals the gradient of ``loss(net(X), y)`` on the whole
    batch. ``net`` itself is not changed (its ``.grad`` fields included).
    """
    # BEGIN SOLUTION
    replicas = [copy.deepcopy(net).to(d) for d in devices]
    X_shards, y_shards = split_batch(X, y, devices)
    for replica, X_i, y_i in zip(replicas, X_shards, y_shards):
        replica.zero_grad()
        loss(replica(X_i), y_i).backward()
    params = [list(r.parameters()) for r in replicas]
    for i in range(len(params[0])):
        allreduce([p[i].grad for p in params])
    return [p.grad.detach().clone() for p in params[0]]
    # END SOLUTION


def strip_module_prefix(state_dict):
    """A copy of ``state_dict`` (an ``OrderedDict``, same order) in which every key that starts
    with ``'module.'`` loses that leading ``'module.'`` (once, only at the start); other keys
    are unchanged. The tensors are the same objects."""
    # BEGIN SOLUTION
    return OrderedDict((k[len(PREFIX):] if k.startswith(PREFIX) else k, v)
                       for k, v in state_dict.items())
    # END SOLUTION


def unwrap(net):
    """The model inside ``nn.DataParallel`` / ``DistributedDataParallel``, else ``net`` (given)."""
    wrappers = (nn.DataParallel, nn.parallel.DistributedDataParallel)
    return net.module if isinstance(net, wrappers) else net


def save_state_dict(net, path):
    """Save the state_dict of the plain model to ``path`` (``torch.save``): for a
    ``DataParallel`` net that is ``net.module``'s, so the keys have no ``module.`` prefix and
    the file loads into the model without the wrapper. Works for plain nets too."""
    # BEGIN SOLUTION
    torch.save(unwrap(net).state_dict(), path)
    # END SOLUTION


def load_state_dict_any(net, path):
    """Load a state_dict file into ``net``, whether the file was saved from a ``DataParallel``
    model (keys with ``module.``) or from the plain model, and whether ``net`` is wrapped or
    not. Strict: every parameter and buffer must be loaded (a key mismatch raises). Read the
    file with ``torch.load(path, weights_only=True)``. Returns ``net``."""
    # BEGIN SOLUTION
    state = strip_module_prefix(torch.load(path, weights_only=True))
    unwrap(net).load_state_dict(state)
    return net
    # END SOLUTION

"""ATen op families for from-scratch policies (``d2lgrade.scratch.policies``).

Names are what ``TorchDispatchMode`` sees: ``"<namespace>.<overload packet>"``, e.g.
``aten._softmax`` for ``torch.softmax``, ``F.softmax``, ``torch._softmax``,
``torch.ops.aten._softmax`` and ``torch._C._VariableFunctions.softmax`` alike. Backward ops
appear too when the traced call itself runs ``backward()`` (a training loop).

``ELEMENTARY`` is the allowlist a small from-scratch function starts from: tensor creation
and random draws, views and indexing, elementwise arithmetic, comparisons, reductions and
matrix products, and the backward ops those produce. It leaves out every library routine
the book asks students to write (activations, softmax, losses, convolutions, pooling,
normalisation, dropout, solvers, fused optimizers). Add to it per function
(``ELEMENTARY | {"aten.sigmoid"}``) rather than widening it for everyone.

Measured on torch 2.14.1 (``tests/test_optrace.py`` keeps the important ones honest).
"""
from __future__ import annotations


def _aten(*names: str, inplace: bool = False) -> frozenset:
    out = {f"aten.{n}" for n in names}
    if inplace:
        out |= {f"aten.{n}_" for n in names}
    return frozenset(out)


# -- families a from-scratch function may not reach --------------------------------------------
SOFTMAX = _aten("softmax", "_softmax", "log_softmax", "_log_softmax", "special_softmax",
                "special_log_softmax", "_masked_softmax", "softmin", "_softmax_backward_data",
                "_log_softmax_backward_data", "logsumexp", "special_logsumexp")
CROSS_ENTROPY = _aten("cross_entropy_loss", "nll_loss", "nll_loss_forward", "nll_loss2d",
                      "nll_loss2d_forward", "nll_loss_nd", "nll_loss_backward",
                      "nll_loss2d_backward", "binary_cross_entropy",
                      "binary_cross_entropy_with_logits", "multilabel_margin_loss_forward",
                      "multi_margin_loss", "kl_div", "_log_softmax", "log_softmax")
LOSSES = CROSS_ENTROPY | _aten("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
                               "soft_margin_loss", "margin_ranking_loss", "hinge_embedding_loss",
                               "poisson_nll_loss", "cosine_embedding_loss", "ctc_loss", "_ctc_loss")
ACTIVATIONS = _aten("relu", "relu6", "_relu", "leaky_relu", "rrelu", "rrelu_with_noise", "prelu",
                    "_prelu_kernel", "threshold", "hardtanh", "elu", "celu", "selu", "gelu", "silu",
                    "mish", "softplus", "softshrink", "hardshrink", "hardsigmoid", "hardswish",
                    "glu", "sigmoid", "tanh", "logsigmoid", "log_sigmoid_forward", "tanhshrink",
                    "threshold_backward", "leaky_relu_backward", "hardtanh_backward", "elu_backward",
                    "gelu_backward", "silu_backward", "softplus_backward", "sigmoid_backward",
                    "tanh_backward", inplace=True)
CONVOLUTION = _aten("convolution", "_convolution", "conv1d", "conv2d", "conv3d", "conv_tbc",
                    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "convolution_backward",
                    "_convolution_mode", "_slow_conv2d_forward", "_slow_conv2d_backward",
                    "thnn_conv2d", "slow_conv3d", "slow_conv3d_forward", "slow_conv_dilated2d",
                    "slow_conv_dilated3d", "slow_conv_transpose2d", "slow_conv_transpose3d",
                    "mkldnn_convolution", "_nnpack_spatial_convolution", "cudnn_convolution",
                    "cudnn_convolution_transpose", "miopen_convolution", "_conv_depthwise2d",
                    "conv_depthwise3d", "_mps_convolution", "im2col", "col2im", "unfold",
                    "unfold_backward", "fft_fft", "fft_rfft", "fft_fft2", "fft_rfft2", "fft_fftn",
                    "fft_rfftn", "fft_irfft", "fft_ifft", "_fft_r2c", "_fft_c2r", "_fft_c2c")
POOLING = _aten("max_pool1d", "max_pool2d", "max_pool3d", "max_pool2d_with_indices",
                "max_pool3d_with_indices", "avg_pool1d", "avg_pool2d", "avg_pool3d",
                "adaptive_avg_pool1d", "adaptive_avg_pool2d", "_adaptive_avg_pool2d",
                "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d",
                "adaptive_max_pool3d", "mkldnn_max_pool2d", "quantized_max_pool2d",
                "fractional_max_pool2d", "lp_pool1d", "lp_pool2d", "max_unpool2d")
DROPOUT = _aten("dropout", "native_dropout", "native_dropout_backward", "feature_dropout",
                "alpha_dropout", "feature_alpha_dropout", "bernoulli", "_fused_dropout",
                "_masked_scale", inplace=True)
NORMALIZATION = _aten("batch_norm", "native_batch_norm", "_native_batch_norm_legit",
                      "_native_batch_norm_legit_no_training", "_native_batch_norm_legit_functional",
                      "_batch_norm_impl_index", "_batch_norm_with_update",
                      "_batch_norm_no_update", "native_batch_norm_backward",
                      "batch_norm_backward", "cudnn_batch_norm", "miopen_batch_norm",
                      "layer_norm", "native_layer_norm", "native_layer_norm_backward", "group_norm",
                      "native_group_norm", "instance_norm", "rms_norm", "_fused_rms_norm",
                      "local_response_norm", "batch_norm_stats", "batch_norm_elemt")
SOLVERS = _aten("linalg_lstsq", "lstsq", "linalg_solve", "_linalg_solve_ex", "linalg_solve_ex",
                "linalg_inv", "linalg_inv_ex", "inverse", "linalg_pinv", "pinverse", "linalg_svd",
                "_linalg_svd", "svd", "linalg_qr", "qr", "linalg_cholesky", "linalg_cholesky_ex",
                "cholesky", "cholesky_solve", "cholesky_inverse", "linalg_eigh", "_linalg_eigh",
                "linalg_eig", "linalg_eigvals", "linalg_eigvalsh", "linalg_lu", "linalg_lu_factor",
                "linalg_lu_factor_ex", "linalg_lu_solve", "lu_solve", "triangular_solve",
                "linalg_solve_triangular", "linalg_matrix_exp", "linalg_tensorsolve",
                "linalg_tensorinv", "ormqr", "geqrf", "orgqr", "linalg_householder_product")
#: torch.optim's fused/foreach kernels (a from-scratch optimizer or training loop writes the step).
FUSED_OPTIMIZERS = frozenset({"aten._foreach_add", "aten._foreach_add_", "aten._foreach_mul_",
                              "aten._foreach_addcmul_", "aten._foreach_addcdiv_", "aten._foreach_lerp_",
                              "aten._foreach_sqrt", "aten._foreach_div_", "aten._foreach_sub_",
                              "aten._fused_sgd_", "aten._fused_adam_", "aten._fused_adamw_",
                              "aten._fused_adagrad_"})
EMBEDDING = _aten("embedding", "embedding_bag", "_embedding_bag", "embedding_dense_backward",
                  "one_hot")
RECURRENT = _aten("rnn_tanh", "rnn_relu", "lstm", "gru", "rnn_tanh_cell", "rnn_relu_cell",
                  "lstm_cell", "gru_cell", "_thnn_fused_lstm_cell", "_thnn_fused_gru_cell",
                  "mkldnn_rnn_layer", "_cudnn_rnn")
ATTENTION = _aten("scaled_dot_product_attention", "_scaled_dot_product_attention_math",
                  "_scaled_dot_product_flash_attention", "_scaled_dot_product_efficient_attention",
                  "_scaled_dot_product_flash_attention_for_cpu", "_native_multi_head_attention",
                  "_transformer_encoder_layer_fwd")

#: Every library routine listed above (the deny-list of a from-scratch training loop).
LIBRARY = (SOFTMAX | LOSSES | ACTIVATIONS | CONVOLUTION | POOLING | DROPOUT | NORMALIZATION
           | SOLVERS | FUSED_OPTIMIZERS | EMBEDDING | RECURRENT | ATTENTION)


# -- the allowlist ----------------------------------------------------------------------------
_CREATION = _aten("zeros", "ones", "full", "empty", "empty_strided", "zeros_like", "ones_like",
                  "full_like", "empty_like", "new_zeros", "new_ones", "new_full", "new_empty",
                  "new_empty_strided", "arange", "linspace", "logspace", "eye", "scalar_tensor",
                  "lift_fresh", "lift_fresh_copy", "tensor", "_to_copy", "to", "clone", "copy",
                  "copy_", "detach", "detach_", "alias", "contiguous", "_local_scalar_dense",
                  "item", "fill", "fill_", "zero_", "resize_", "set_", "is_nonzero", "is_same_size",
                  "equal", "allclose", "isclose", "_has_compatible_shallow_copy_type", "type_as",
                  "masked_fill", "masked_fill_", "masked_scatter", "masked_select", "_unsafe_index",
                  "tril", "triu", "diag", "diag_embed", "diagonal", "cartesian_prod", "meshgrid")
_RANDOM = _aten("rand", "rand_like", "randn", "randn_like", "randint", "randint_like", "randperm",
                "uniform", "normal", "random", "multinomial", inplace=True)
_VIEWS = _aten("view", "_unsafe_view", "reshape", "_reshape_alias", "expand", "expand_as",
               "expand_copy", "permute", "transpose", "t", "squeeze", "unsqueeze", "select",
               "slice", "narrow", "flatten", "unflatten", "movedim", "split", "split_with_sizes",
               "chunk", "unbind", "view_as", "as_strided", "swapaxes", "swapdims", "flip", "roll",
               "repeat", "tile", "repeat_interleave", "cat", "stack", "hstack", "vstack",
               "broadcast_to", "broadcast_tensors", "index", "index_select", "gather", "take",
               "scatter", "scatter_add", "scatter_reduce", "index_put", "index_add", "index_copy",
               "index_fill", "nonzero", "where", "sort", "argsort", "topk", "kthvalue", "unique",
               "_unique2", "bucketize", "searchsorted", "squeeze_copy", "unsqueeze_copy",
               "view_copy", "select_backward", "slice_backward", "index_select_backward",
               "as_strided_scatter", "select_scatter", "slice_scatter", "new_empty_strided",
               "_index_put_impl", "narrow_copy", "clamp", "clamp_min", "clamp_max", "clip",
               inplace=True)
_POINTWISE = _aten("add", "sub", "rsub", "mul", "div", "true_divide", "floor_divide", "neg",
                   "negative", "reciprocal", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p",
                   "sqrt", "rsqrt", "square", "pow", "float_power", "abs", "absolute", "sign", "sgn",
                   "signbit", "floor", "ceil", "round", "trunc", "frac", "fmod", "remainder",
                   "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh",
                   "hypot", "maximum", "minimum", "fmax", "fmin", "addcmul", "addcdiv", "lerp",
                   "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not",
                   "logical_xor", "bitwise_and", "bitwise_or", "bitwise_not", "bitwise_xor",
                   "isnan", "isinf", "isfinite", "isposinf", "isneginf", "nan_to_num", "heaviside",
                   "copysign", "xlogy", "erf", "erfc", "erfinv", "lgamma", "digamma", "mvlgamma",
                   inplace=True)
_REDUCTIONS = _aten("sum", "mean", "prod", "max", "min", "amax", "amin", "aminmax", "argmax",
                    "argmin", "cumsum", "cumprod", "cummax", "cummin", "var", "std", "var_mean",
                    "std_mean", "any", "all", "count_nonzero", "median", "nanmedian", "mode",
                    "nansum", "nanmean", "logcumsumexp", "diff", "trace", "max_unary", "min_unary",
                    "sum_to_size", "value_selecting_reduction_backward", "_cummax_helper",
                    "_cummin_helper", inplace=True)
_PRODUCTS = _aten("mm", "bmm", "matmul", "dot", "vdot", "mv", "addmm", "addmv", "addbmm",
                  "baddbmm", "outer", "ger", "einsum", "tensordot", "kron", "inner", "_addmm_activation")
#: Autograd bookkeeping ops that show up in backward passes of the ops above.
_AUTOGRAD = _aten("ones_like", "zeros_like", "expand", "sum", "mul", "div", "neg", "where",
                  "masked_fill", "scatter", "scatter_add", "new_zeros", "index_put", "_to_copy",
                  "copy_", "add_")

ELEMENTARY = (_CREATION | _RANDOM | _VIEWS | _POINTWISE | _REDUCTIONS | _PRODUCTS | _AUTOGRAD)

#: What a family is called in messages (the first family that holds an op names it).
FAMILIES = [("softmax", SOFTMAX), ("a library loss", LOSSES), ("an activation function", ACTIVATIONS),
            ("a convolution routine", CONVOLUTION), ("a pooling routine", POOLING),
            ("dropout", DROPOUT), ("a normalisation layer", NORMALIZATION),
            ("a linear solver", SOLVERS), ("torch.optim's fused update", FUSED_OPTIMIZERS),
            ("an embedding routine", EMBEDDING), ("a recurrent layer", RECURRENT),
            ("attention", ATTENTION)]


def family_of(op: str) -> str | None:
    for label, family in FAMILIES:
        if op in family:
            return label
    return None

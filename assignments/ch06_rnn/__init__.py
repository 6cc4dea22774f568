"""Chapter 6: recurrent neural networks (D2L 6.3-6.8).

Graded: the character-level corpus loader and the two samplers (6.3), one-hot inputs, the
RNN from scratch with prediction, gradient clipping and training with perplexity (6.4), the
concise model on ``nn.RNN`` with its prediction and training functions (6.5), and GRU (6.7)
and LSTM (6.8) cells from scratch. 6.1, 6.2, 6.6, 6.9 and 6.10 are theory only.

Conventions for the whole chapter (they differ from the book's code on purpose):

* ``device=None`` means the CPU (the book picks CUDA when it is available), so results do not
  depend on the machine that grades them.
* ``get_params`` takes its sizes as arguments (the book reads globals), and the trainers call
  ``get_params(vocab_size, num_hiddens, device)``.
* The vocabulary lists characters in order of first appearance (the book's ``list(set(...))``
  depends on ``PYTHONHASHSEED``), so indices are reproducible.
"""

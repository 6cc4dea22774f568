"""Grading one submission: ``api`` (unpack, pick chapters, run pytest on the graders, collect
results) and what the pytest plugin (``d2lgrade.plugin``) uses: ``state``, ``fixtures``,
``messages``; the helpers graders call: ``tolerance`` (the one tolerance policy) and ``speed``
(calibrated timing rounds)."""

"""From-scratch rules: what a "write it yourself" function may execute. Grader side:
``policies`` (declarations), ``source`` (the loaded definition's source), ``record`` (what the
traces found, in words), ``forbidden`` (the per-call name check), ``ops`` (ATen op families).
Child side: ``trace`` (installation), ``tracer`` and ``modes`` (the trace itself)."""

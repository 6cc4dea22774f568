"""The trust boundary. Grader side: ``handle`` (the ``Submission``), ``transport`` (the channel
to the child), ``remote`` (stand-ins for student objects), ``wire`` (the data-only format).
Child side: ``child`` (the server), ``probes`` (trusted helpers), ``book_env`` (what the
book's code expects around it). ``sandbox`` confines the child."""

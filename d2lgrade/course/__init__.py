"""The course on disk: where it lives and how to load a reference module (``layout``), the
stubs made from the solutions (``stubs``), and the data the project makes itself
(``datasets``)."""

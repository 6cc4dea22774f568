"""Reading a submission that is not a package of chapter modules: a Jupyter notebook's cells
(``cells``) become chapter modules (``notebook``)."""

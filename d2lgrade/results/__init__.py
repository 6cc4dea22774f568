"""What a grading produces: the results model (``model.TestResult``, free of pytest), where the
time went (``timing``), attachments (``feedback``), did-not-import problems (``imports``), and
the writers: terminal table, ``results.json``, JUnit XML (``report``), the feedback page
(``page``, a Jinja2 template)."""

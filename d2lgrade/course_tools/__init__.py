"""What an instructor runs on the course, not on a submission: ``validate`` (the proof of the
graders), ``release`` and ``strip`` (the student repository), ``similarity`` (a class's
submissions side by side)."""

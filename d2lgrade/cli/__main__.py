"""``python -m d2lgrade.cli``."""
import sys

from d2lgrade.cli.main import main

sys.exit(main())

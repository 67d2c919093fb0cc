"""Allow ``python -m kneeviewer``."""

import sys

from kneeviewer.cli.main import main

sys.exit(main())

import sys

from digitrec_core.cli import main

sys.exit(main())

import sys

from digitrec_cli.main import main

sys.exit(main())

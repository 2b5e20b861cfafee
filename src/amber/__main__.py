import sys

from amber.cli import main

sys.exit(main())

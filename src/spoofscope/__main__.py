import sys

from spoofscope.cli import main

sys.exit(main())

import sys

from chaos.suite import main

sys.exit(main())

import sys

from mongoemu.cli import main

sys.exit(main())

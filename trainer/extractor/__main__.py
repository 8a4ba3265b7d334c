import sys

from trainer.extractor.run import main

sys.exit(main())

from tests.trainer.quick_stages import main

main("extract")

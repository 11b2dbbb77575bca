"""``python -m hashtrail``: the command line, as the ``hashtrail`` script."""
from hashtrail.cli import main

main()

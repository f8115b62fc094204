"""Allow `python -m tauro_compile`."""

from tauro_compile.cli import main

main()

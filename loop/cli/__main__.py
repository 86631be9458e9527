"""`python -m loop.cli ...`: the same as the `loop` console script."""

from loop.cli import main

if __name__ == "__main__":
    main()

"""``python -m paramtool``: the command line."""

from paramtool.cli import main

if __name__ == "__main__":
    main(prog_name="paramtool")

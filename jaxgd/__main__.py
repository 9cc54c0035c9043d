"""`python -m jaxgd`: the `jaxgd` command line."""

from .cli import script

if __name__ == "__main__":
    script()

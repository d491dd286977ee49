"""`python -m controlplane.cli`: the same command as the `controlplane` script."""

from controlplane.cli import main

main()

"""``arrears`` — the operator's command line. Every Django management command passes through."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arrears.settings")
    from django.core.management import execute_from_command_line

    argv = list(sys.argv)
    if len(argv) > 1 and not argv[1].startswith("-"):
        # Commands are spelled with hyphens on the command line (account-class) and underscores in Python.
        argv[1] = argv[1].replace("-", "_")
    argv[0] = "arrears"
    execute_from_command_line(argv)


if __name__ == "__main__":
    main()

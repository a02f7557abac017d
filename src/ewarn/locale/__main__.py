"""``python -m ewarn.locale extract|update``: refresh the e-mail catalogues (see ``ewarn.locale``)."""

from __future__ import annotations

import sys

from ewarn.locale import update, write_template


def main(argv: list[str]) -> int:
    if argv == ["extract"]:
        write_template()
    elif argv == ["update"]:
        write_template()
        update()
    else:
        print("usage: python -m ewarn.locale extract|update", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Write the service's OpenAPI schema: ``python -m mmer_api.openapi [OUT]`` (standard output without OUT).

The web page's API types are generated from this file (``front-end/openapi.json`` → ``npm run gen:api``),
so a field renamed or removed here breaks the page's type check, not the page in a user's browser.
Building the schema loads no model and reads no settings.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mmer.fsutil import write_text_atomic
from mmer_api.main import create_app


def openapi_schema() -> dict[str, Any]:
    return create_app().openapi()


def render() -> str:
    """The schema as stable text (sorted keys), so the committed copy diffs cleanly."""
    return json.dumps(openapi_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    if args:
        write_text_atomic(Path(args[0]), render())
    else:
        sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The one Jinja2 environment: the pages, the FHIR narratives and the PDF render from the same templates.

Autoescaping is always on (every value is the citizen's or a professional's free text), undefined names fail
loudly, and the templates are read once from the package (`gateway/web/templates`).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined


@cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("gateway.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


def render(template: str, **values: Any) -> str:
    return environment().get_template(template).render(**values)

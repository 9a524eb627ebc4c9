"""Rewrite the generated files in `profiles/`: `python -m profiles`.

The conformance resources come from `mappings.plan.conformance` (for the default canonical base), the examples from
the mapping of `fixtures/samples/plans/kip-slagelse-botilbud.json`, and `plan-document.schema.json` from the plan
document model. `tests/mappings/plan/test_conformance.py` fails when a file here differs from what this writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mappings.documents.plan import parse_plan_document, plan_document_json_schema
from mappings.plan import PlanContext, conformance_resources, resources_from_plan

HERE = Path(__file__).parent
SAMPLE = HERE.parent / "fixtures" / "samples" / "plans" / "kip-slagelse-botilbud.json"


def render(resource: Any) -> str:
    return json.dumps(resource, ensure_ascii=False, indent=2) + "\n"


def expected_files() -> dict[str, str]:
    """File name (relative to `profiles/`) -> content."""
    files = {
        f"{resource['resourceType']}-{resource['id']}.json": render(resource) for resource in conformance_resources()
    }
    files["plan-document.schema.json"] = render(plan_document_json_schema())
    doc = parse_plan_document(json.loads(SAMPLE.read_text("utf-8")))
    examples: dict[str, Any] = {}
    for resource in resources_from_plan(doc, PlanContext()):
        profile = resource["meta"]["profile"][0].rsplit("/", 1)[1]
        examples.setdefault(f"examples/{resource['resourceType']}-{profile}.json", resource)
    files.update({name: render(resource) for name, resource in examples.items()})
    return files


def main() -> None:
    for name, content in expected_files().items():
        path = HERE / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(content, "utf-8")


if __name__ == "__main__":
    main()

"""Validate CycloneDX 1.5 JSON files with the CycloneDX project's own Python library
(its strict JSON schema validation). Prints "valid: FILE" per file, or the first error
and exits 1."""
import sys

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

validator = JsonStrictValidator(SchemaVersion.V1_5)
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        error = validator.validate_str(f.read())
    if error is not None:
        print(f"invalid: {path}: {error}")
        sys.exit(1)
    print(f"valid: {path}")

"""docs/openapi.yaml as a C++ source holding its JSON form: openapi_to_cpp.py IN.yaml OUT.cpp.

Debian's python3-yaml reads the document; a YAML error stops the build with its line."""
import json
import sys

import yaml

source, target = sys.argv[1], sys.argv[2]
with open(source, encoding="utf-8") as f:
    document = yaml.safe_load(f)
text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=False)
# Cut into pieces well under compilers' string-literal limits, each a raw string.
pieces = [text[i:i + 8000] for i in range(0, len(text), 8000)]
assert all(")openapi\"" not in p for p in pieces)
with open(target, "w", encoding="utf-8") as f:
    f.write("// Generated from docs/openapi.yaml by lib/api/openapi_to_cpp.py; do not edit.\n")
    f.write("#include <string_view>\n\nnamespace exsync::api {\n\n")
    f.write("extern const std::string_view kOpenApiJson;\n")
    f.write("static const char kText[] =\n")
    for p in pieces:
        f.write('    R"openapi(' + p + ')openapi"\n')
    f.write(";\nconst std::string_view kOpenApiJson(kText, sizeof kText - 1);\n\n}  // namespace exsync::api\n")

# The contract check: frontend/src/api/types.ts must be what contract/openapi.json generates
# (a stand-in for `openapi-typescript contract/openapi.json -o frontend/src/api/types.ts --check`).
import json, sys
spec = json.load(open("contract/openapi.json"))
ts = {"string": "string", "number": "number", "integer": "number", "boolean": "boolean"}
out = []
for name, schema in spec["components"]["schemas"].items():
    out.append("export interface %s {\n" % name + "".join(
        "  %s: %s;\n" % (p, ts[v["type"]]) for p, v in schema["properties"].items()) + "}\n")
want = "\n".join(out)
have = open("frontend/src/api/types.ts").read()
if have != want:
    print("frontend/src/api/types.ts is stale: regenerate it from contract/openapi.json")
    sys.exit(1)

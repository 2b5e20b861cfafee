"""JSON encode/decode of nested documents (the C accelerator plus dict/list churn)."""
import json
import sys

DOC = {"id": 1, "name": "amber", "tags": ["a", "b", "c"] * 5, "nested": [{"k": i, "v": str(i) * 3, "f": i / 7}
                                                                  for i in range(50)], "ok": True, "none": None}
n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
total = 0
for _ in range(n):
    text = json.dumps(DOC, sort_keys=True)
    total += len(json.loads(text)["nested"])
print(total)

"""Regular expressions over a synthetic log (compile cache, search, sub, findall)."""
import re
import sys

LINES = [f"2026-11-{d:02d} 12:{m:02d}:07 host{m % 7}.example GET /api/v{m % 3}/items/{d * m} 200 {m * 13}ms"
         for d in range(1, 29) for m in range(60)]
PATTERN = re.compile(r"(\d{4})-(\d\d)-(\d\d) (\S+) (\S+) (GET|POST) (/\S+) (\d{3}) (\d+)ms")
n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
count = 0
for _ in range(n):
    for line in LINES:
        m = PATTERN.search(line)
        if m and int(m.group(9)) > 100:
            count += 1
    count += len(re.findall(r"host\d", "\n".join(LINES)))
    re.sub(r"/items/(\d+)", r"/items/<id>", LINES[0])
print(count)

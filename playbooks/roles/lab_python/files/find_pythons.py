"""Print {"3.12": {"path": ..., "version": "3.12.1"}, ...} for the newest build
of each asked X.Y (or exact X.Y.Z) under ROOT; missing ones map to null."""
import json
import os
import sys

root, asked = sys.argv[1], sys.argv[2:]


def key(name):
    return tuple(int(p) for p in name.split(".") if p.isdigit())


names = sorted((n for n in os.listdir(root) if n[:1].isdigit() and n.count(".") == 2), key=key)
found = {}
for want in asked:
    match = [n for n in names if n == want or n.startswith(want + ".")]
    path = os.path.join(root, match[-1], "bin", "python3") if match else None
    found[want] = {"path": path, "version": match[-1]} if path and os.access(path, os.X_OK) else None
print(json.dumps(found))

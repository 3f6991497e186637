"""Print {"3.12.1": "ROOT/3.12.1/bin/python3", ...}: every build under ROOT
whose folder is named X.Y.Z (a pyenv-style versions folder). A missing ROOT
lists nothing. Which build answers which asked version is decided later, by
describe_pythons.py, the same way for a discovered tree and an explicit map."""
import json
import os
import re
import sys

root = sys.argv[1]
names = os.listdir(root) if os.path.isdir(root) else []
print(json.dumps({n: os.path.join(root, n, "bin", "python3")
                  for n in sorted(names) if re.match(r"^\d+\.\d+\.\d+$", n)}))

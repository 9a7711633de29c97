"""Read-only probe of one node for the role cjc.cluster.cjc_cluster (one round trip).

argv: SITE ADDRESS DB_PATH MARKER ROOT COMMAND...; prints one JSON object:
forward (addresses SITE resolves to), canonical (the name ADDRESS resolves back to),
db (the site DB's identity file exists), marker (the start check record exists),
address (lines of `ip -o -4 addr show to ADDRESS/32`: where the address is configured),
missing_commands (engine commands not installed under ROOT).
"""
import json
import os
import socket
import subprocess
import sys

site, address, db_path, marker, root = sys.argv[1:6]
result = {"forward": [], "canonical": ""}
try:
    result["forward"] = sorted({info[4][0] for info in socket.getaddrinfo(site, None, socket.AF_INET)})
except OSError:
    pass
try:
    result["canonical"] = socket.gethostbyaddr(address)[0]
except OSError:
    pass
result["db"] = os.path.exists(os.path.join(db_path, "nqs", "siteinfo"))
result["marker"] = os.path.exists(marker)
shown = subprocess.run(["ip", "-o", "-4", "addr", "show", "to", address + "/32"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
result["address"] = [line for line in shown.stdout.splitlines() if line.strip()]
result["missing_commands"] = [c for c in sys.argv[6:] if not os.path.exists(os.path.normpath(root + "/" + c))]
print(json.dumps(result))

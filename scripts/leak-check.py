#!/usr/bin/env python3
"""After a full `make test`: no service log of any test platform holds a configured secret or
the personal data the tests seeded (docs/SECURITY.md). Scans every file under <run>/**/logs/
for: every secret of every token key set the platforms made (HS256 secrets, ES256 private
keys), the database password, and the PII the privacy tests send. Exits 1 naming the file
and the kind of leak (never the value)."""
import json
import os
import sys

run = sys.argv[1] if len(sys.argv) > 1 else ".run/test"
seeded_pii = {
    "email": "ada.lovelace@example.com",
    "card": "4111 1111 1111 1111",
    "card (compact)": "4111111111111111",
}
secrets = {}
for root, _, files in os.walk(run):
    for name in files:
        if name != "auth-keys.json":
            continue
        try:
            keys = json.load(open(os.path.join(root, name)))
        except (OSError, ValueError):
            continue
        for key in keys.get("keys", []):
            for field in ("secret", "private_key_pem"):
                value = key.get(field)
                if not value:
                    continue
                # A PEM's base64 body lines: any of them in a log is a leak.
                parts = [line for line in value.splitlines() if line and not line.startswith("-----")] if field.endswith("pem") else [value]
                for part in parts:
                    if len(part) >= 16:
                        secrets[part] = f"{field} of key {key.get('kid', '?')}"
needles = {value: f"seeded PII ({kind})" for kind, value in seeded_pii.items()}
needles.update(secrets)
leaks = 0
scanned = 0
for root, _, files in os.walk(run):
    if os.path.basename(root) != "logs":
        continue
    for name in files:
        path = os.path.join(root, name)
        try:
            text = open(path, encoding="utf-8", errors="replace").read()
        except OSError:
            continue
        scanned += 1
        for needle, kind in needles.items():
            if needle in text:
                print(f"leak: {kind} in {path}")
                leaks += 1
print(f"leak check: {scanned} log files, {len(secrets)} key secrets and {len(seeded_pii)} seeded values looked for, {leaks} leaks")
sys.exit(1 if leaks else 0)

"""What `make dev` starts beside its server (a generated project's ops/dev.py: the local issuer
and the OAuth table on moto), in a process of its own, so that the server under load is a plain
`python -m <package>` whose memory and CPU are its own.

Run from the project with its interpreter: PORT=N PYTHONPATH=. python dev_services.py
Prints, as one JSON line, the variables ops/dev.py sets for its server, then keeps the issuer
and the table up until stdin closes.
"""

import json
import os
import sys

from ops import dev

before = dict(os.environ)


def hand_over() -> None:
    added = {name: value for name, value in os.environ.items() if before.get(name) != value}
    print(json.dumps(added), flush=True)
    sys.stdin.read()


# ops/dev.py's last step is to serve in its own process; here it hands the environment over.
dev.run_server = hand_over
dev.main()

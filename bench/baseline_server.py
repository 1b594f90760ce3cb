"""Baseline for the benchmarks: the same tools on an MCPServer with the SDK's defaults, or with
--stateless-json as the SDK serves stateless JSON (what the generated server does, buffered).

Run with a generated project's interpreter: PORT=N python baseline_server.py PACKAGE [--stateless-json]
"""

import importlib
import os
import sys

import uvicorn
from mcp.server.mcpserver import MCPServer

package, *options = sys.argv[1:]
server = MCPServer("baseline")
importlib.import_module(f"{package}.tools").register(server)
if "--stateless-json" in options:
    app = server.streamable_http_app(stateless_http=True, json_response=True)
else:
    app = server.streamable_http_app()
uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning")

"""Baseline for bench/cold_start.py: the same tools on an MCPServer with the SDK's defaults.

Run with a generated project's interpreter: python baseline_server.py PORT PACKAGE
"""

import importlib
import sys

import uvicorn
from mcp.server.mcpserver import MCPServer

port, package = int(sys.argv[1]), sys.argv[2]
server = MCPServer("baseline")
importlib.import_module(f"{package}.tools").register(server)
uvicorn.run(server.streamable_http_app(), host="127.0.0.1", port=port, log_level="warning")

"""`make demo`: generate a project from this checkout with the default answers, start its
server, and let the MCP Inspector CLI (a client nobody here wrote) list and call its tools."""

from __future__ import annotations

import json

from scripts.serving import TEMPLATE_ROOT, generate_project, inspector, serve

DEMO_DIR = TEMPLATE_ROOT / "build" / "demo"
LIST_TOOLS = ["--method", "tools/list"]
CALL_TOOL = [
    "--method", "tools/call", "--tool-name", "convert_units",
    "--tool-arg", "value=26.2", "--tool-arg", "from_unit=mi", "--tool-arg", "to_unit=km",
]  # fmt: skip


def main() -> None:
    print(f"==> copier copy --defaults . {DEMO_DIR.relative_to(TEMPLATE_ROOT)}, then uv sync")
    project = generate_project(DEMO_DIR)
    with serve(project, env={"MCP_AUTH_DISABLED": "1"}) as server:
        print(f"==> server up at {server.mcp_url}")
        for args in (LIST_TOOLS, CALL_TOOL):
            print(f"==> mcp-inspector --cli {server.mcp_url} --transport http {' '.join(args)}")
            answer = json.loads(inspector(server.mcp_url, "--transport", "http", *args).stdout)
            if "tools" in answer:
                for tool in answer["tools"]:
                    params = ", ".join(tool["inputSchema"]["properties"])
                    print(f"    {tool['name']}({params}): {tool['description']}")
            else:
                print(f"    structuredContent: {json.dumps(answer['structuredContent'])}")
    print(f"==> done: the project is in {DEMO_DIR}; `cd` there and run `make dev`")


if __name__ == "__main__":
    main()

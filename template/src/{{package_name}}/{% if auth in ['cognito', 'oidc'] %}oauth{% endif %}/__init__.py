"""The OAuth authorization server MCP clients sign in through, in front of the upstream identity provider."""

"""What the Makefile runs besides the CDK app: the local dev server, make smoke, and the
helpers that read or change the deployed stack."""

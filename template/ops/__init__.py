"""What the Makefile runs besides the CDK app: make dev, make smoke, and the deployed stack."""

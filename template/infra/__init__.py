"""The CDK app that deploys the server: deploy.toml in, one CloudFormation stack out."""

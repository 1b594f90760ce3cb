"""The project's tests: `make test` runs the fast ones, `make test-all` all of them."""

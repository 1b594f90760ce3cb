"""The template's own tooling: Jinja includes for template files, and dev scripts."""

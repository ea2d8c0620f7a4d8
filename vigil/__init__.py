"""Composition root: settings, CLI and wiring. Nothing else imports this package."""

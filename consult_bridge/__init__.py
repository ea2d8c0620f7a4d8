"""Consultation bridge for clinicians (FastAPI app; built in a later issue)."""

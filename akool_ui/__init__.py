"""Akool Image Studio: a Gradio UI for Akool's Image Generate API, with a local Akool simulator."""

__version__ = "0.1.0"

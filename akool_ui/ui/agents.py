"""The studio over MCP: Gradio's MCP server (``launch(mcp_server=True)``, streamable HTTP at
``/gradio_api/mcp/``) offering the agent tools of ``handlers/agent_tools.py`` and nothing else.

How Gradio picks tools: every *public* named endpoint becomes one, named after its function. This app's
public endpoints are the gradio_client API (``/generate``, ``/job`` …: their parameters are the
scripts' contract), so the tools are registered apart, as undocumented endpoints (``mcp_<tool>``: off the
API page, callable like the others), and ``expose`` hands Gradio's server exactly those. They are not
queued (``queue=False``): Gradio then runs them inside the MCP request itself, so the tool sees that
request (the caller's TCP peer, which the spending limits count, and their headers) and can send its
progress on that MCP session (``agent_tools._progress_reporter``), instead of a loopback call from
127.0.0.1 that would make every MCP caller one visitor.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import TYPE_CHECKING, Any

import gradio as gr

from .handlers.agent_tools import AgentTools

if TYPE_CHECKING:  # pragma: no cover
    from .handlers import StudioHandlers

__all__ = ["MCP_PATH", "TOOL_NAMES", "available", "register", "expose", "mcp_url"]

log = logging.getLogger(__name__)

MCP_PATH = "/gradio_api/mcp/"
TOOL_NAMES = ("generate", "press", "job_status", "search_history", "download_original", "account_credit")
_ENDPOINT_PREFIX = "mcp_"


def available() -> bool:
    """Whether the ``mcp`` package Gradio's MCP server needs is installed (requirements.txt has it)."""
    return importlib.util.find_spec("mcp") is not None


def register(h: "StudioHandlers") -> None:
    """The tools as endpoints of the Blocks being built (inside ``gr.Blocks``)."""
    tools = AgentTools(h.api).functions()
    for name in TOOL_NAMES:
        gr.api(tools[name], api_name=_ENDPOINT_PREFIX + name, queue=False, api_visibility="undocumented")


def expose(demo: gr.Blocks) -> bool:
    """Point the launched app's MCP server at the agent tools only (whether it runs).

    Gradio reads ``api_info``, ``tool_to_endpoint`` and ``get_input_schema`` on every listing and call, so
    setting them after launch is enough; tools keep Gradio's prefix (a Space's name) and its naming rule.
    """
    server: Any = getattr(demo, "mcp_server_obj", None)
    if server is None:
        if getattr(demo, "mcp_error", None):
            log.warning("the MCP server did not start: %s", demo.mcp_error)
        return False
    wanted = {"/" + _ENDPOINT_PREFIX + name for name in TOOL_NAMES}
    named = demo.get_api_info(all_endpoints=True)["named_endpoints"]
    server.api_info = {"named_endpoints": {k: v for k, v in named.items() if k in wanted}, "unnamed_endpoints": {}}
    tools: dict[str, str] = {}
    for endpoint in server.api_info["named_endpoints"]:
        fn = server.get_block_fn_from_endpoint_name(endpoint).fn
        tools[server.valid_and_unique_tool_name(server.tool_prefix + fn.__name__, set(tools))] = endpoint
    server.tool_to_endpoint = tools
    _refuse_unknown_arguments(server)
    missing = wanted - set(tools.values())
    if missing:
        log.warning("MCP tools missing (Gradio's MCP internals changed?): %s", ", ".join(sorted(missing)))
    return True


def _refuse_unknown_arguments(server: Any) -> None:
    """Tool schemas that name their parameters only (``additionalProperties: false``): the MCP server then
    refuses a misspelt or made-up argument with a sentence naming it, before Gradio's own refusal (which
    sends an agent to a "view API" link)."""
    schema_of = server.get_input_schema

    def strict(tool_name: str, parameters: dict[str, str] | None = None) -> tuple[dict[str, Any], list]:
        schema, file_positions = schema_of(tool_name, parameters)
        return {**schema, "additionalProperties": False}, file_positions

    server.get_input_schema = strict


def mcp_url(local_url: str) -> str:
    """Where an MCP client connects (streamable HTTP)."""
    return local_url.rstrip("/") + MCP_PATH

"""Graph entry points for ``langgraph dev`` and LangGraph Studio (declared in langgraph.json).

Each module builds one graph at import time, with its models chosen by environment
variables (see :mod:`graphs.models`); the embedded model is the default, so
``langgraph dev`` serves them offline.
"""

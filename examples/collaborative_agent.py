"""Make an agent with a tool collaborative: MR lookahead as a node or as a middleware.

The agent is ``create_agent(model, [lookup])`` with a real ``lookup`` tool (built by
``graphs/collaborative_agent.py``). By default it takes its place in a host graph as a
collaborative node: each turn the node samples N candidate replies from the agent, scores
each by the Multiturn-aware Reward over S futures of w turns (a simulated user against the
real agent, which calls its tool there too, in forks of the thread) and answers with the
best. With ``--middleware`` the same lookahead runs inside the agent, as a
``CollaborativeMiddleware`` at the model call that answers. Either way the live thread
keeps only the chosen reply.

    python examples/collaborative_agent.py [--model local] [--fast] [--middleware]

``--fast`` samples 2 candidates with 1 future each and shorter replies (about a minute on
two CPU cores with the embedded model). The embedded model cannot call tools: the agent
wraps it in ``LookupFirst``, a shim that calls the tool on each user message.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for graphs/
from graphs.collaborative_agent import build_agent
from langgraph_collab import CollaborativeMiddleware, load_chat_model
from langgraph_collab.agents.budget import Budget
from langgraph_collab.agents.node import CollaborativeState, create_collaborative_node


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local", help="model spec for every role")
    parser.add_argument("--fast", action="store_true", help="N=2, S=1 and short replies")
    parser.add_argument("--seconds", type=float, default=None, help="lookahead budget per turn")
    parser.add_argument("--middleware", action="store_true", help="CollaborativeMiddleware")
    args = parser.parse_args()

    local = args.model.startswith("local")
    options = {"seed": 0, "max_tokens": 48 if args.fast else 160} if local else {}
    model = load_chat_model(args.model, **options)
    lookahead = {
        "user": model,
        "judge": model,
        "candidates": 2 if args.fast else 3,
        "samples": 1 if args.fast else 2,
        "window": 1,
        "budget": Budget(seconds=args.seconds),
    }
    if args.middleware:  # the lookahead inside the agent, which plays its own futures
        collab = CollaborativeMiddleware(**lookahead)
        agent = build_agent(model, middleware=[collab], checkpointer=InMemorySaver())
        graph = collab.bind(agent)
    else:  # the agent as a node of a host graph
        node = create_collaborative_node(build_agent(model), mode="lookahead", **lookahead)
        graph = (
            StateGraph(CollaborativeState)
            .add_node("agent", node)
            .add_edge(START, "agent")
            .compile(checkpointer=InMemorySaver())
        )
    config = {"configurable": {"thread_id": "example"}}
    start = time.perf_counter()
    out = graph.invoke({"messages": [("user", "I'd like to visit Lisbon, any tips?")]}, config)
    collab = out["collab"]
    for i, (text, score) in enumerate(zip(collab["candidates"], collab["scores"], strict=True)):
        mark = "*" if i == collab["chosen"] else " "
        shown = f"{score:.3f}" if score is not None else "n/a"
        print(f"{mark} MR {shown}  {text[:90]!r}")
    live = graph.get_state(config).values["messages"]
    print(f"\nLive thread: {[m.type for m in live]} (forks: {collab['forks']})")
    print(f"{collab['calls']} model calls, {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()

"""Simulate a whole conversation: a simulated user with a hidden goal against an assistant.

    python examples/simulate_conversation.py [--model local] [--kind document] [--turns 3]

The user knows the task's goal (for documents, the target text), starts vague and reveals
details when asked; the assistant never sees the goal. The run ends when the user writes
[[TERMINATE CHAT]] or after --turns assistant replies.
"""

from __future__ import annotations

import argparse

from langgraph_collab import create_conversation_graph, load_chat_model
from langgraph_collab.tasks import load_tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local", help="model spec for both roles")
    parser.add_argument("--kind", default="document", help="bundled task set to draw from")
    parser.add_argument("--turns", type=int, default=3, help="assistant turns at most")
    parser.add_argument("--proactive", action="store_true", help="the proactive prompt")
    args = parser.parse_args()

    options = {"seed": 0, "max_tokens": 120} if args.model.startswith("local") else {}
    model = load_chat_model(args.model, **options)
    task = load_tasks(args.kind, split="test", limit=1)[0]
    assistant = model
    if args.proactive:
        from langgraph_collab import create_assistant

        assistant = create_assistant(model, proactive=True)
    graph = create_conversation_graph(user=model, assistant=assistant, max_turns=args.turns)
    print(f"Hidden goal: {task.request}\n")
    state = graph.invoke({"messages": [], "task": task})
    for message in state["messages"]:
        speaker = "USER" if message.type == "human" else "ASSISTANT"
        print(f"{speaker}: {message.text}\n")
    ended = "the user ended the chat" if state.get("done") else "the turn budget ran out"
    print(f"({state.get('turn', 0)} assistant turns; {state.get('failure') or ended})")


if __name__ == "__main__":
    main()

"""The symbolic comparison worker: math-verify in its own interpreter, never imported.

It reads one JSON request a line on stdin (``reference``, ``answer``, ``raw``, ``seconds``)
and writes one JSON verdict a line on stdout: ``equal``, ``differ``, ``undecided`` or
``timeout``. Running on this process's main thread, a comparison is bounded by a real-time
alarm; one stuck where the alarm cannot reach (a huge integer power in C) is bounded by the
parent, which kills this process. math-verify's own logging stays in this process.
"""

import json
import logging
import re
import signal
import sys


class Timeout(Exception):
    """The comparison ran past its bound."""


def _alarm(signum, frame):
    raise Timeout


def symbolic(reference, answer, raw):
    """equal / differ / undecided: math-verify on both sides parsed alike (an answer in
    words: its final expression); undecided unless both parse to comparable kinds."""
    from latex2sympy2_extended.math_normalization import NormalizationConfig
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    # Units were stripped by our normaliser from its list; math-verify's own list would
    # also drop letters that are part of an answer (3t, 3h, 2ab).
    latex = LatexExtractionConfig(
        normalization_config=NormalizationConfig(
            basic_latex=True, units=False, malformed_operators=True, nits=True, boxed="all"
        )
    )
    configs = [latex, ExprExtractionConfig()]
    gold = parse(f"${reference}$", configs, parsing_timeout=None)
    wordy = re.search(r"(?<![\\a-zA-Z])[a-zA-Z]{3,}", answer)
    target = parse(raw if wordy else f"${answer}$", configs, parsing_timeout=None)
    if not gold or not target:
        return "undecided"
    if verify(gold, target, timeout_seconds=None):
        return "equal"
    kinds = {type(gold[0]).__module__.split(".")[0], type(target[0]).__module__.split(".")[0]}
    return "differ" if kinds == {"sympy"} else "undecided"


def main():
    logging.getLogger("math_verify").setLevel(logging.ERROR)  # this process's own logger
    import math_verify  # noqa: F401  (imported before "ready": requests time only their work)

    signal.signal(signal.SIGALRM, _alarm)
    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            signal.setitimer(signal.ITIMER_REAL, request["seconds"])
            try:
                verdict = symbolic(request["reference"], request["answer"], request["raw"])
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except Timeout:
            verdict = "timeout"
        except Exception as error:  # a parse that crashes decides nothing
            verdict = f"undecided: {type(error).__name__}"
        print(json.dumps(verdict), flush=True)


if __name__ == "__main__":
    main()

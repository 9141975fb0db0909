"""How a chat model answers the one-axis cheese questions of the embedded judge's `facts-bounds`
and `facts-axes` variants, asked of every (number, quarter) pair of a maze side: "Is 2 at most 3?",
"Is 2 one of 3, 4, 5 or 6?" and the contrast "at most 3" minus "at least 4". No agent and no
episode is read: these are all the questions of that form a maze of that side can ask.

Per form and side: the area under the ROC curve of the log-odds of yes (true vs false
questions), the accuracy at 0 and at the best threshold, and every answer.

    ~/.cache/maze-rllf-llama-server/bin/python scripts/axis_questions.py MODEL.gguf [FORM,...]

FORM: list, bound, contrast (default all three). Needs llama-cpp-python (the venv that
scripts/install-llama-server.sh builds).
"""
import math
import sys
import time

import numpy as np
from llama_cpp import Llama

SYSTEM = ("You judge episodes of a mouse in a grid maze. Rows are numbered from the top, "
          "columns from the left.")


def main():
    model = sys.argv[1]
    forms = sys.argv[2].split(",") if len(sys.argv) > 2 else ["list", "bound", "contrast"]
    llm = Llama(model_path=model, n_ctx=1024, n_threads=1, logits_all=True, verbose=False)

    def tokens(text):
        return llm.tokenize(text.encode(), add_bos=False, special=True)

    yes = [tokens(w)[0] for w in ("yes", "Yes")]
    no = [tokens(w)[0] for w in ("no", "No")]
    asked = {}

    def odds(user):
        if user not in asked:
            llm.reset()
            llm.eval(tokens(f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n"
                            f"{user}<|im_end|>\n<|im_start|>assistant\n"))
            logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
            top = logits.max()
            total = top + math.log(np.exp(logits - top).sum())
            mass = lambda ids: math.log(sum(math.exp(logits[i] - total) for i in ids))
            asked[user] = mass(yes) - mass(no)
        return asked[user]

    def one_of(low, high):
        return str(low) if low == high else ", ".join(map(str, range(low, high))) + f" or {high}"

    def bound(low, high, side):
        return f"at most {high}" if low == 0 else f"at least {low}"

    def outside(low, high, side):
        return f"at least {high + 1}" if low == 0 else f"at most {low - 1}"

    def answer(form, value, low, high, side):
        if form == "list":
            return odds(f"Is {value} one of {one_of(low, high)}? Answer yes or no.")
        inside = odds(f"Is {value} {bound(low, high, side)}? Answer yes or no.")
        if form == "bound":
            return inside
        if form == "contrast":
            return inside - odds(f"Is {value} {outside(low, high, side)}? Answer yes or no.")
        raise SystemExit(f"unknown form {form!r}: list, bound or contrast")

    for form in forms:
        for side in (7, 11):
            half = (side + 1) // 2
            started, before = time.time(), len(asked)
            rows = []
            for low in (0, side - half):
                high = low + half - 1
                for value in range(side):
                    rows.append((answer(form, value, low, high, side), low <= value <= high,
                                 value, low))
            true = [o for o, t, *_ in rows if t]
            false = [o for o, t, *_ in rows if not t]
            auc = sum((a > b) + 0.5 * (a == b) for a in true for b in false) / (
                len(true) * len(false))
            at = lambda threshold: sum((o > threshold) == t for o, t, *_ in rows) / len(rows)
            best = max((at(o), o) for o, *_ in rows)
            seconds = (time.time() - started) / max(1, len(asked) - before)
            print(f"side {side} {form}: {len(rows)} questions, AUC {auc:.3f}, accuracy at 0 "
                  f"{at(0.0):.3f}, best {best[0]:.3f} (above {best[1]:.2f}), {seconds:.2f} s "
                  "per prompt", flush=True)
            print("   " + " ".join(f"{v}{'T' if t else 'F'}{lo}:{o:.1f}" for o, t, v, lo in rows),
                  flush=True)


if __name__ == "__main__":
    main()

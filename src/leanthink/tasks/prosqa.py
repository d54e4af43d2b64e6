"""`prosqa`: graph reachability questions (Coconut's ProsQA), from the real file or generated.

    question: "Every terpus is a brimpus. Tom is a terpus. ... Every brimpus is a lempus.
               Is Tom a lempus or scrompus?"
    answer:   "lempus"  (the full sentence "Tom is a lempus." is in meta["answer_sentence"])
    steps:    "Tom is a terpus.", "Every terpus is a brimpus.", "Every brimpus is a lempus."

Generated splits (see prosqa_gen.py for the construction and docs/prosqa.md for their statistics)
form a curriculum over graph size: `xsmall` (5-7 nodes, paths of 1-2 edges; a warm-up for learning
the lookup), `small` (6-10 nodes, paths of 1-3 edges), `medium` (12-17 nodes, 2-4 edges) and `full`
(the real file's sizes). Seed convention, as in `arith`: the plain names are
evaluation splits, drawn from `seed + EVAL_SEED_OFFSET`; `train-small`, `train-medium` and
`train-full` are the same generators drawn from `seed` itself, so no training problem is an
evaluation problem. Problem i of a split depends only on (size, seed, i), so `limit` takes a prefix.

Chain-of-thought formats for training built-in reasoners (`ProsQATask(trace=...)`):

- `path`: the gold shortest path, one sentence per line (the Coconut format). Writing its first
  step needs lookahead: of the root's children, only the one leading to the target is right.
- `search`: a breadth-first search from the root, one line per expanded node listing its children
  in the order their sentences appear in the question ("Tom: terpus, dumpus."). Each line is a pure
  lookup; nodes are expanded in first-seen order, once each, leaves (no sentence starts with them)
  are skipped, and the search stops at the line that names one of the two candidates.
- `backward`: backward chaining from the asked concepts, one parent lookup per line ("lempus:
  brimpus."); see `backward_trace`.
- `who`: the same chain written with the question's own words, the answer right after the object
  ("Who is a lempus brimpus."), for a tokenizer with the role tokens of `added_tokens`.
- `both`: the `who` chains of both asked concepts, each closed by "So P C." (the chain from C ended
  at P), so the answer is the concept of the asked person's "So" line; see `both_lines`.
  `builtin:prosqa` is trained on it.

All end with `Answer: Tom is a lempus.`.

`train-drill` is a training-only split of lookup drills (`drill_problem`): short contexts with up to
three `Who is a X P.` lines, where only the answer words are learned (`loss_spans`).
"""

from __future__ import annotations

import random
import re
from dataclasses import replace
from pathlib import Path

from ..errors import LeanthinkError
from .base import Problem, Task, extract_answer, generated_count
from .files import Record, read_json_list, unique_ids
from .prosqa_gen import CONCEPTS, ENTITIES, Graph, ProsQAConfig, generate_item

#: Generated sizes. `full` reproduces the real validation file (23 nodes, 36 edges, paths 3-6).
SIZES: dict[str, ProsQAConfig] = {
    "xsmall": ProsQAConfig(min_nodes=5, max_nodes=7, min_path=1, max_path=2),
    "small": ProsQAConfig(min_nodes=6, max_nodes=10, min_path=1, max_path=3),
    "medium": ProsQAConfig(min_nodes=12, max_nodes=17, min_path=2, max_path=4),
    "full": ProsQAConfig(),
}
#: Evaluation splits are drawn from seed + this offset, `train-*` splits from the seed itself.
EVAL_SEED_OFFSET = 1_000_003
DRILL = "train-drill"
SPLITS = tuple(SIZES) + tuple(f"train-{s}" for s in SIZES) + (DRILL,)
TRACES = ("path", "search", "backward", "who", "both")
#: what a trace's loss covers: every token, or its words only (`key`: no "." / ":" / line breaks / EOS)
LOSSES = ("all", "key")

FIELDS = ("question", "answer", "steps", "idx_to_symbol", "edges", "root", "target", "neg_target")

_SENTENCE = re.compile(r"(?:Every )?(\w+) is an? (\w+)\.")
_ASKED = re.compile(r"Is (\w+) an? (\w+) or (\w+)\?\s*$")
_FINAL = re.compile(r"(?:answer\s*:\s*)?(?:(\w+) is an? )?(\w+)\.?", re.IGNORECASE)


class ProsQATask(Task):
    name = "prosqa"
    splits = SPLITS
    cot_only_splits = (DRILL,)
    answer_kind = "entity"
    exact_steps = True

    def __init__(self, trace: str = "path", config: ProsQAConfig | None = None, loss: str = "all"):
        if trace not in TRACES:
            raise LeanthinkError(f"prosqa: unknown trace {trace!r}; choose one of {', '.join(TRACES)}")
        if loss not in LOSSES:
            raise LeanthinkError(f"prosqa: unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        self.trace = trace
        self.config = config
        self.loss = loss

    # -- problems -------------------------------------------------------------------------------

    def load(self, split: str | None = None, data: Path | None = None, limit: int | None = None,
             seed: int = 0) -> list[Problem]:
        if limit is not None and limit < 0:
            raise LeanthinkError(f"limit must be >= 0, got {limit}")
        if data is not None:
            records = read_json_list(data, FIELDS)[:limit]
            return unique_ids([_from_record(r) for r in records], records)
        split = split or "full"
        if split not in SPLITS:
            raise LeanthinkError(f"prosqa: unknown split {split!r}; choose one of {', '.join(SPLITS)} "
                                 "or give --data FILE (e.g. ../shared/data/prosqa_valid.json)")
        if split == DRILL:
            return [drill_problem(f"prosqa-{split}-{seed}-{i}", random.Random(f"prosqa/drill/{seed}/{i}"))
                    for i in range(generated_count(limit))]
        size = split.removeprefix("train-")
        cfg = (self.config or SIZES[size]).validate()
        base = seed if split.startswith("train-") else seed + EVAL_SEED_OFFSET
        out = []
        for i in range(generated_count(limit)):
            item = generate_item(cfg, random.Random(f"prosqa/{size}/{base}/{i}"))
            out.append(_problem(f"prosqa-{split}-{seed}-{i}", item))
        return out

    def with_config(self, **changes) -> "ProsQATask":
        """The same task with a generator config changed from the `full` defaults."""
        return ProsQATask(self.trace, replace(self.config or SIZES["full"], **changes), self.loss)

    # -- answers --------------------------------------------------------------------------------

    def extract(self, output: str) -> str | None:
        """The concept the output answers: from `Answer: Tom is a lempus.`, else from a last line
        that is only `Tom is a lempus.` or `lempus`; a step line ("Every x is a y.") is no answer."""
        answer = extract_answer(output)
        if answer is None:
            lines = [s.strip() for s in output.strip().splitlines() if s.strip()]
            if not lines or not _FINAL.fullmatch(lines[-1]):
                return None
            answer = lines[-1]
        answer = answer.strip().rstrip(".").strip()
        m = _FINAL.fullmatch(answer)
        return m.group(2) if m else (answer or None)

    def grade(self, predicted: str | None, problem: Problem) -> bool:
        """Right iff the answer names the target concept and not the negative one."""
        if not predicted:
            return False
        words = set(re.findall(r"[a-z]+", predicted.lower()))
        target, negative = _candidates(problem)
        return target.lower() in words and (negative is None or negative.lower() not in words)

    def reference_output(self, problem: Problem) -> str:
        return "\n".join(problem.steps + (f"Answer: {_answer_sentence(problem)}",))

    def direct_target(self, problem: Problem) -> str:
        return _answer_sentence(problem)

    def cot_target(self, problem: Problem) -> str:
        if "drill" in problem.meta:
            return "\n".join(who_line(node, subject) for node, subject in problem.meta["drill"])
        if self.trace == "both":
            return "\n".join(both_lines(problem) + [f"Answer: {_answer_sentence(problem)}"])
        if self.trace in ("backward", "who"):
            lines = (backward_trace(problem) if self.trace == "backward"
                     else [who_line(node, subject) for node, subject in backward_chain(problem)])
            return "\n".join(lines + [f"Answer: {_answer_sentence(problem)}"])
        if self.trace == "search":
            return "\n".join(search_trace(problem) + [f"Answer: {_answer_sentence(problem)}"])
        return self.reference_output(problem)

    def loss_spans(self, problem: Problem, target: str) -> list[tuple[int, int]] | None:
        """A drill learns only its answer words: labels on the "." and line breaks around them hold
        the lookup back for hundreds of steps (docs/builtin-models.md, "Third round"). With
        `loss="key"` a trace learns only its words, not the punctuation and line breaks between them
        (for a stage after the format is learned)."""
        if "drill" in problem.meta:
            return [m.span(1) for m in _WHO_ANSWER.finditer(target)]
        if self.loss == "key":  # the words: lookups, the chain's decisions and the answer
            return [m.span() for m in _WORDS.finditer(target)]
        return None

    def added_tokens(self) -> tuple[str, ...]:
        """Role tokens: one token per object phrase (" is a tumpus") and per name (" bompus", " Eva").
        With them a sentence's subject is the token right before its object, which a small model learns
        to look up; with " is a" between them it did not (docs/builtin-models.md)."""
        return (("Who",) + tuple(f" is a {c}" for c in CONCEPTS)
                + tuple(f" {w}" for w in CONCEPTS + ENTITIES))


# -- traces ---------------------------------------------------------------------------------------

def _neighbours(question: str, of: int) -> dict[str, list[str]]:
    """For each name, the other end of every sentence in which it is the subject (of=0: its children)
    or the object (of=1: its parents), in the order the sentences appear in the question text."""
    out: dict[str, list[str]] = {}
    for edge in _SENTENCE.findall(question.rsplit(" Is ", 1)[0]):
        out.setdefault(edge[of], []).append(edge[1 - of])
    return out


def question_children(question: str) -> dict[str, list[str]]:
    """Each name's children, in question order."""
    return _neighbours(question, of=0)


def search_trace(problem: Problem) -> list[str]:
    """Breadth-first search lines from the root until a line names the target or the negative."""
    root, *asked = _asked(problem)
    goals = set(asked)
    children = question_children(problem.question)
    lines, queue, seen = [], [root], {root}
    while queue:
        node = queue.pop(0)
        kids = children.get(node)
        if not kids:
            continue
        lines.append(f"{node}: {', '.join(kids)}.")
        if goals & set(kids):
            break
        for kid in kids:
            if kid not in seen:
                seen.add(kid)
                queue.append(kid)
    return lines


def question_parents(question: str) -> dict[str, list[str]]:
    """Each name's parents (subjects of the sentences it is the object of), in question order."""
    return _neighbours(question, of=1)


def backward_trace(problem: Problem) -> list[str]:
    """The `backward` trace's lines "X: P."; see `backward_chain`."""
    return [f"{node}: {subject}." for node, subject in backward_chain(problem)]


def who_line(node: str, subject: str) -> str:
    """One lookup of the `who` trace and of drills: "Who is a X P." (P: the subject of "P is a X"). Always
    "is a", as ProsQA writes it ("Every wumpus is a impus."), so the object phrase is the question's token.

    No punctuation between X and P: with the role tokens the answer is then the token right after the
    object phrase, as in the question it is the token right before it. A "?" between them kept the
    lookup from forming (43% at step 400 against 93% without, `prosqa_role_token_probe.py
    --query-suffix "?"`)."""
    return f"Who is a {node} {subject}."


_WHO_ANSWER = re.compile(r"^Who is an? \w+ (\w+)\.$", re.MULTILINE)
_WORDS = re.compile(r"\w+(?: \w+)*")


def backward_chain(problem: Problem) -> list[tuple[str, str]]:
    """Backward chaining from the first asked concept, as (X, P) pairs, one per trace line: P is the
    subject of the first sentence (in question order) whose object is X; chaining goes on from P until
    a name with no parent. If that is the asked person, the first concept is the answer; otherwise
    the second concept is chained the same way.

    Why: every line is one retrieval at a fixed offset ("P is a X" / "Every P is a X": the subject sits
    three words before the object), with no lookahead; the forward shortest path needs lookahead at
    every branch. The lookup itself is still hard for a tiny model trained from scratch on a CPU
    budget unless the object phrase is one token (`ProsQATask.added_tokens`) and the lookup is drilled
    (`drill_problem`); docs/builtin-models.md measures both. Taking the first parent can end at another person even when the concept
    is reachable (the ProsQA graphs have few such branches), so the trace of a few problems ends
    without reaching the person; the answer line is still the gold answer.
    """
    person, first, second = _asked(problem)
    parents = question_parents(problem.question)
    lines: list[tuple[str, str]] = []
    for concept in (first, second):
        chain = concept_chain(parents, concept)
        lines += chain
        if (chain[-1][1] if chain else concept) == person:
            break
    return lines


def concept_chain(parents: dict[str, list[str]], concept: str) -> list[tuple[str, str]]:
    """(X, P) pairs from `concept` up its first parents (in question order) to a name with none."""
    lines, node, seen = [], concept, {concept}
    while parents.get(node):
        parent = parents[node][0]
        lines.append((node, parent))
        if parent in seen:  # a cycle cannot happen in a DAG; guard against hand-made files
            break
        seen.add(parent)
        node = parent
    return lines


def both_lines(problem: Problem) -> list[str]:
    """The `both` trace without its answer line: each asked concept's chain (`concept_chain`) as
    `who` lines, closed by "So P C." (the chain from concept C ended at P).

    Why: the `who` trace decides after each person whether it is the asked one, a comparison between
    the token just written and one token of the question that a 2-layer model did not learn
    (docs/builtin-models.md, "Fifth round"). Here every line is a lookup or a copy, and the answer is
    the concept of the "So" line of the asked person: the token after an earlier copy of the token
    just written, what an induction head does."""
    _, first, second = _asked(problem)
    parents = question_parents(problem.question)
    lines = []
    for concept in (first, second):
        chain = concept_chain(parents, concept)
        lines += [who_line(node, subject) for node, subject in chain]
        lines.append(f"So {chain[-1][1] if chain else concept} {concept}.")
    return lines


def _asked(problem: Problem) -> tuple[str, str, str]:
    """(person, first concept, second concept) of the question "Is P a C1 or C2?"."""
    asked = _ASKED.search(problem.question)
    if not asked:
        raise LeanthinkError(f"prosqa: {problem.id}: question does not end with 'Is X a A or B?'")
    return asked.groups()


def drill_problem(pid: str, rng: random.Random) -> Problem:
    """A lookup drill: half the time five sentences over ten distinct concepts (associative recall
    written as ProsQA text), otherwise an `xsmall` graph without its question; then up to
    three `Who is a X P.` lines for concepts X that are the object of exactly one sentence.

    Why: the lookup forms from dense, unambiguous examples, and formed there it carries over to graphs.
    On graphs alone a 2-layer model stayed below 65% for thousands of steps; half random facts took
    the same model to 98% on held-out graphs in 600 steps (docs/builtin-models.md, "Fourth round")."""
    while True:
        if rng.random() < 0.5:
            words = rng.sample(CONCEPTS, 10)
            facts = " ".join(f"Every {words[i]} is a {words[5 + i]}." for i in range(5))
        else:
            facts = generate_item(SIZES["xsmall"], rng)["question"].rsplit(" Is ", 1)[0]
        unique = sorted(k for k, v in question_parents(facts).items() if len(v) == 1)
        if unique:
            break
    parents = question_parents(facts)
    drill = [(node, parents[node][0]) for node in rng.sample(unique, min(3, len(unique)))]
    return Problem(id=pid, question=facts, answer=drill[0][1], meta={"drill": drill})


# -- helpers --------------------------------------------------------------------------------------

def graph_of(problem: Problem) -> Graph:
    """The problem's graph, from its meta."""
    m = problem.meta
    return Graph(tuple(m["idx_to_symbol"]), tuple(tuple(e) for e in m["edges"]), m["root"],
                 m["target"], m["neg_target"])


def _candidates(problem: Problem) -> tuple[str, str | None]:
    m = problem.meta
    if "idx_to_symbol" in m:
        return m["idx_to_symbol"][m["target"]], m["idx_to_symbol"][m["neg_target"]]
    asked = _ASKED.search(problem.question)  # a Problem built by hand: the other asked concept
    others = [c for c in (asked.groups()[1:] if asked else ()) if c != problem.answer]
    return problem.answer, (others[0] if others else None)


def _answer_sentence(problem: Problem) -> str:
    if "answer_sentence" in problem.meta:
        return problem.meta["answer_sentence"]
    asked = _ASKED.search(problem.question)
    return f"{asked.group(1)} is a {problem.answer}." if asked else f"{problem.answer}."


def _problem(pid: str, item: dict) -> Problem:
    symbols = item["idx_to_symbol"]
    meta = {k: item[k] for k in ("idx_to_symbol", "edges", "root", "target", "neg_target")}
    meta.update(answer_sentence=item["answer"], neg_answer=symbols[item["neg_target"]],
                path_length=len(item["steps"]))
    return Problem(id=pid, question=item["question"], answer=symbols[item["target"]],
                   steps=tuple(item["steps"]), meta=meta)


def _from_record(record: Record) -> Problem:
    """A problem from one object of a Coconut-format file, its fields checked."""
    d = record.data
    for key in ("question", "answer"):
        if not isinstance(d[key], str):
            raise record.error(f"field {key!r} must be a string, got {type(d[key]).__name__}")
        record.text(key)   # checks the characters
    for key in ("steps", "idx_to_symbol"):
        if not isinstance(d[key], list) or not all(isinstance(s, str) for s in d[key]):
            raise record.error(f"field {key!r} must be a list of strings")
    n = len(d["idx_to_symbol"])
    for key in ("root", "target", "neg_target"):
        if isinstance(d[key], bool) or not isinstance(d[key], int) or not 0 <= d[key] < n:
            raise record.error(f"field {key!r} must be a node index in [0, {n}), got {d[key]!r}")
    edges = d["edges"]
    if not isinstance(edges, list) or not all(
            isinstance(e, list) and len(e) == 2 and all(type(i) is int and 0 <= i < n for i in e)
            for e in edges):
        raise record.error(f"field 'edges' must be a list of [parent, child] node indices in [0, {n})")
    return _problem(f"prosqa-{record.index}", d)

